"""The record form saves a draft as the clinician types (the page's script posts it)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.clock import LONDON, utcnow
from advice_line.demo import seed_demo
from advice_line.models import AdviceRecord, AuditEvent
from tests.conftest import static_url
from tests.test_console import csrf, message_request, record_form, sign_in


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def test_a_typed_draft_is_saved_without_leaving_the_page(app: Flask, demo: Session) -> None:
    request = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    page = client.get(path).get_data(as_text=True)
    assert 'id="draft-status"' in page
    assert static_url(app, "record.js") in page
    before = utcnow()
    response = client.post(
        f"{path}/record",
        data={
            **record_form(rationale="Calm, talking about his daughter"),
            "intent": "autosave",
            "csrf_token": csrf(client, path),
        },
    )
    assert response.status_code == 200
    london_times = {t.astimezone(LONDON).strftime("%H:%M") for t in (before, utcnow())}
    assert response.get_json()["saved_at"] in london_times
    demo.rollback()
    record = demo.scalars(select(AdviceRecord)).one()
    assert record.rationale == "Calm, talking about his daughter"
    assert record.completed_at is None, "a draft, not a completed record"
    page = client.get(path).get_data(as_text=True)
    assert "Calm, talking about his daughter" in page
    assert "Draft saved." not in page, "no notice waits for the next page"


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"rationale": "x" * 5001}, "Draft not saved: Rationale: Field cannot be longer than 5000"),
        (
            {"subject_age": "seventeen"},
            "Draft not saved: Age in years, if known: Not a valid integer value.",
        ),
    ],
)
def test_a_draft_that_cannot_be_saved_says_why_and_keeps_nothing(
    app: Flask, demo: Session, changes: dict[str, str], said: str
) -> None:
    request = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    token = csrf(client, path)
    demo.rollback()
    events = demo.scalars(select(AuditEvent.id)).all()
    response = client.post(
        f"{path}/record", data={**record_form(**changes), "intent": "autosave", "csrf_token": token}
    )
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(said)
    demo.rollback()
    assert demo.scalar(select(AdviceRecord.id)) is None
    assert demo.scalars(select(AuditEvent.id)).all() == events


def test_a_draft_needs_the_csrf_token_and_the_taker(app: Flask, demo: Session) -> None:
    request = message_request(demo, accepted_by="amira")
    path = f"/console/requests/{request.id}"
    amira = sign_in(app, "amira")
    forged = amira.post(f"{path}/record", data={**record_form(), "intent": "autosave"})
    assert forged.status_code == 400
    ben = sign_in(app, "ben")
    other = ben.post(
        f"{path}/record",
        data={**record_form(), "intent": "autosave", "csrf_token": csrf(ben, "/console")},
    )
    assert other.status_code in {403, 404}
    demo.rollback()
    assert demo.scalar(select(AdviceRecord.id)) is None
