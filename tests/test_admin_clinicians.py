"""Clinicians' administration, and a registration that lapses: warned ahead, then no offers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.clock import LONDON, utcnow
from advice_line.demo import DEMO_PASSWORD
from advice_line.lifecycle.errors import NotQualified
from advice_line.lifecycle.qualification import is_qualifying
from advice_line.lifecycle.registrations import details_of
from advice_line.models import AuditEvent, Clinician, ClinicianStatus, Offer, User
from advice_line.routing.engine import dispatch
from advice_line.routing.views import count_available
from tests.builders import (
    ACTOR,
    POLICY,
    T0,
    add_clinician,
    add_request,
    complete_input,
    wrapped_up,
)
from tests.conftest import migrate_and_seed, start_server, stop_server
from tests.test_console import csrf, demo, sign_in
from tests.test_metrics import a_minute_later, scrape

__all__ = ["demo"]  # the fixture, imported for these tests


def today() -> date:
    return utcnow().astimezone(LONDON).date()


def user_of(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def edit(client: FlaskClient, user: User, **changes: Any) -> Any:
    """Post the clinician's edit form: its current details with these changes."""
    path = f"/admin/clinicians/{user.id}"
    token = csrf(client, path)
    data: dict[str, Any] = {"csrf_token": token}
    if user.clinician is not None:
        data |= dict(vars(details_of(user.clinician)).items())
        data["skills"] = list(data["skills"])
    data |= changes
    return client.post(path, data=data)


# --- lapses stop offers -----------------------------------------------------------------


def test_a_lapsed_clinician_is_not_offered_a_waiting_request_while_another_is(
    session: Session,
) -> None:
    lapsed = add_clinician(session, idle_since=T0 - timedelta(hours=2))  # longest idle
    lapsed.registration_lapses_on = T0.date()  # today, in London as in UTC at 03:00
    current = add_clinician(session)
    current.registration_lapses_on = T0.date() + timedelta(days=1)
    request = add_request(session)
    session.commit()
    assert count_available(session, now=T0, policy=POLICY) == 1

    offers = dispatch(session, now=T0, policy=POLICY, actor=ACTOR)

    assert [(o.request_id, o.clinician_id) for o in offers] == [(request.id, current.id)]


def test_a_lapsed_clinician_cannot_take_a_request_and_is_told_when_it_lapsed(
    session: Session,
) -> None:
    clinician = add_clinician(session)
    clinician.registration_lapses_on = date(2026, 11, 20)
    request = add_request(session)
    with pytest.raises(NotQualified, match="Your registration lapsed on 20 November 2026"):
        lifecycle.take(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    with pytest.raises(NotQualified, match="lapsed on 20 November 2026"):
        lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    assert session.scalars(select(Offer)).all() == []


def test_engine_and_lifecycle_agree_on_a_lapse_at_london_midnight(session: Session) -> None:
    summer_night = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # 00:30 on 1 July in London
    clinician = add_clinician(session, shift_around=summer_night)
    clinician.registration_lapses_on = date(2026, 7, 1)
    session.commit()
    an_hour_before = summer_night - timedelta(hours=1)
    assert is_qualifying(clinician, POLICY, now=an_hour_before)
    assert count_available(session, now=an_hour_before, policy=POLICY) == 1
    assert not is_qualifying(clinician, POLICY, now=summer_night)
    assert count_available(session, now=summer_night, policy=POLICY) == 0


def test_advice_given_before_midnight_is_recorded_after_the_registration_lapses(
    session: Session,
) -> None:
    request, clinician_id = wrapped_up(session)  # accepted at 03:00 on 23 November
    session.get_one(Clinician, clinician_id).registration_lapses_on = date(2026, 11, 24)
    next_day = T0 + timedelta(days=1)
    lifecycle.complete_record(
        session,
        request.id,
        clinician_id,
        complete_input(),
        now=next_day,
        actor=ACTOR,
        policy=POLICY,
    )
    assert request.status.value == "closed"
    another = add_request(session, now=next_day)
    with pytest.raises(NotQualified, match="lapsed on 24 November 2026"):
        lifecycle.take(session, another.id, clinician_id, now=next_day, actor=ACTOR, policy=POLICY)


def test_a_senior_taking_with_a_lapsed_registration_is_told_on_the_floor(
    app: Flask, demo: Session
) -> None:
    sam = user_of(demo, "sam")
    assert sam.clinician is not None
    sam.clinician.registration_lapses_on = today()
    request = add_request(demo, now=utcnow())
    demo.commit()
    client = sign_in(app, "sam")
    token = csrf(client, "/console/floor")
    response = client.post(
        "/console/floor",
        data={"csrf_token": token, "request_id": request.id, "intent": "take"},
        follow_redirects=True,
    )
    day = today().strftime("%d %B %Y").lstrip("0")
    assert f"Your registration lapsed on {day}" in response.get_data(as_text=True)
    assert demo.get_one(type(request), request.id).status.value == "queued"


# --- warnings ahead ---------------------------------------------------------------------


def test_a_lapsing_clinician_sees_a_banner_and_the_senior_s_floor_lists_them(
    app: Flask, demo: Session
) -> None:
    soon, later = today() + timedelta(days=10), today() + timedelta(days=60)
    alex = sign_in(app, "alex")
    assert edit(alex, user_of(demo, "amira"), lapses_on=soon.isoformat()).status_code == 302
    assert edit(alex, user_of(demo, "ben"), lapses_on=later.isoformat()).status_code == 302
    assert edit(alex, user_of(demo, "chloe"), lapses_on=today().isoformat()).status_code == 302

    shown = soon.strftime("%-d %B %Y")
    amira = sign_in(app, "amira").get("/console").get_data(as_text=True)
    assert f"Your registration lapses on {shown}" in amira
    ben = sign_in(app, "ben").get("/console").get_data(as_text=True)
    assert "registration-warning" not in ben, "60 days ahead is outside the 28-day window"

    floor = sign_in(app, "sam").get("/console/floor").get_data(as_text=True)
    listed = floor[floor.index('id="registrations-lapsing"') :]
    assert f"Amira Okafor (mental-health nurse): lapses on {shown}" in listed
    assert "Chloe Evans (AMHP): lapsed on" in listed
    assert "Dr Ben Hughes" not in listed

    page = alex.get("/admin/clinicians").get_data(as_text=True)
    row = re.search(rf'id="clinician-{user_of(demo, "amira").id}".*?</tr>', page, re.S)
    assert row is not None
    assert "lapsing soon" in row.group(0)
    row = re.search(rf'id="clinician-{user_of(demo, "chloe").id}".*?</tr>', page, re.S)
    assert row is not None
    assert ">lapsed<" in row.group(0)


def test_the_metrics_count_registrations_lapsing_and_lapsed(app: Flask, demo: Session) -> None:
    assert scrape(app)["advice_line_registrations_lapsing"] == 0
    for username, lapses_on in (("amira", 3), ("ben", 27), ("chloe", 0), ("dev", -5), ("erin", 40)):
        clinician = user_of(demo, username).clinician
        assert clinician is not None
        clinician.registration_lapses_on = today() + timedelta(days=lapses_on)
    demo.commit()
    a_minute_later(app)  # the metric's figures are kept for a minute
    seen = scrape(app)
    assert seen["advice_line_registrations_lapsing"] == 2
    assert seen["advice_line_registrations_lapsed"] == 2


# --- the admin pages --------------------------------------------------------------------


def test_an_admin_lists_and_edits_a_clinician_and_the_change_is_audited(
    app: Flask, demo: Session
) -> None:
    alex = sign_in(app, "alex")
    listing = alex.get("/admin/clinicians")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert "Amira Okafor" in page
    assert "NMC 12A3456E" in page
    assert "Terry Lane" in page
    assert "Clinicians" in alex.get("/admin/").get_data(as_text=True)

    amira = user_of(demo, "amira")
    response = edit(
        alex,
        amira,
        registration_number="12 a 3456 e",
        verified_on="2026-10-01",
        lapses_on="2027-10-01",
        skills=["camhs", "autism"],
        phone="07700 900999",
    )
    assert response.status_code == 302
    demo.expire_all()
    clinician = user_of(demo, "amira").clinician
    assert clinician is not None
    assert clinician.registration_number == "12A3456E"
    assert clinician.registration_verified_on == date(2026, 10, 1)
    assert clinician.registration_lapses_on == date(2027, 10, 1)
    assert {s.value for s in clinician.skill_set} == {"camhs", "autism"}
    assert clinician.phone == "+447700900999"

    event = demo.scalars(
        select(AuditEvent).where(AuditEvent.action == "clinician.details_changed")
    ).one()
    assert (event.actor_user_id, event.subject_type, event.subject_id) == (
        user_of(demo, "alex").id,
        "user",
        amira.id,
    )
    changes = event.detail["changes"]
    assert changes["registration_lapses_on"] == {"before": None, "after": "2027-10-01"}
    assert changes["skills"] == {"before": ["camhs"], "after": ["autism", "camhs"]}
    assert changes["phone"] == {"before": "…101", "after": "…999"}, "never the whole number"
    assert "registration_number" not in changes, "the same number, typed loosely"


def test_a_console_account_without_clinician_details_gets_them(app: Flask, demo: Session) -> None:
    user = User(
        username="newnurse",
        display_name="New Nurse",
        password_hash="x",
        role=user_of(demo, "amira").role,
        created_at=utcnow(),
    )
    demo.add(user)
    demo.commit()
    alex = sign_in(app, "alex")
    assert "add them" in alex.get("/admin/clinicians").get_data(as_text=True)
    response = edit(
        alex,
        user,
        profession="nurse",
        registration_body="NMC",
        registration_number="01X2345Y",
        phone="07700900555",
    )
    assert response.status_code == 302
    clinician = demo.scalars(select(Clinician).where(Clinician.user_id == user.id)).one()
    assert clinician.status == ClinicianStatus.OFFLINE
    assert demo.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == user.id)
    ).all() == ["clinician.created"]


BAD_INPUT = [
    (
        {"registration_number": "1234567"},
        "A Nursing and Midwifery Council number for a nurse is like 12A3456E.",
    ),
    ({"registration_body": "GMC"}, "A nurse registers with: NMC."),
    ({"profession": "doctor"}, "A doctor registers with: GMC."),
    (
        {"verified_on": "2026-10-01", "lapses_on": "2026-09-30"},
        "A registration lapses after the day it was last verified.",
    ),
    (
        {"verified_on": "2999-01-01"},
        "The register cannot have been checked on a day still to come.",
    ),
    (
        {"lapses_on": "31/02/2027"},
        "Registration lapses on must be a real date: there is no 31/02/2027.",
    ),
    (
        {"lapses_on-day": "1", "lapses_on-year": "2027"},
        "Registration lapses on must include a month.",
    ),
    ({"skills": ["camhs", "juggling"]}, "&#39;juggling&#39; is not one of: camhs"),
    ({"phone": "12"}, "&#39;12&#39; is not a phone number we can ring."),
    (
        {"registration_number": "09B8765F"},
        "NMC 09B8765F is already the registration of Sam Adeyemi",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD_INPUT)
def test_bad_details_are_refused_on_the_page_and_nothing_is_stored(
    app: Flask, demo: Session, changes: dict[str, Any], message: str
) -> None:
    amira = user_of(demo, "amira")
    assert amira.clinician is not None
    before = details_of(amira.clinician)
    response = edit(sign_in(app, "alex"), amira, **changes)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert "nhsuk-error-message" in response.get_data(as_text=True)
    demo.expire_all()
    clinician = user_of(demo, "amira").clinician
    assert clinician is not None
    assert details_of(clinician) == before
    assert demo.scalars(select(AuditEvent).where(AuditEvent.action.like("clinician.%"))).all() == []


@pytest.mark.parametrize("username", ["anonymous", "amira", "sam", "morgan"])
def test_only_admins_administer_clinicians(app: Flask, demo: Session, username: str) -> None:
    client = sign_in(app, username)
    amira = user_of(demo, "amira")
    expected = 302 if username == "anonymous" else 403
    assert client.get("/admin/clinicians").status_code == expected
    assert client.get(f"/admin/clinicians/{amira.id}").status_code == expected
    assert client.post(
        f"/admin/clinicians/{amira.id}", data={"phone": "07700900000"}
    ).status_code in {
        expected,
        400,  # no CSRF token: refused before the role check is reached
    }
    demo.expire_all()
    assert user_of(demo, "amira").clinician.phone == "+447700900101"  # type: ignore[union-attr]


@pytest.mark.parametrize("token", ["missing", "forged"])
def test_the_edit_form_refuses_a_missing_or_forged_csrf_token(
    app: Flask, demo: Session, token: str
) -> None:
    amira = user_of(demo, "amira")
    data = {"profession": "nurse", "registration_body": "NMC", "registration_number": "12A3456E"}
    if token == "forged":
        data["csrf_token"] = "forged-token"
    response = sign_in(app, "alex").post(
        f"/admin/clinicians/{amira.id}", data=data | {"phone": "07700900000"}
    )
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    demo.expire_all()
    assert user_of(demo, "amira").clinician.phone == "+447700900101"  # type: ignore[union-attr]


def test_a_manager_or_admin_account_is_not_a_clinician(app: Flask, demo: Session) -> None:
    alex = sign_in(app, "alex")
    assert alex.get(f"/admin/clinicians/{user_of(demo, 'morgan').id}").status_code == 404


# --- flask clinicians ... ---------------------------------------------------------------


def test_the_command_line_sets_and_lists_details(app: Flask, demo: Session) -> None:
    runner = app.test_cli_runner()
    lapses = (today() + timedelta(days=5)).isoformat()
    result = runner.invoke(
        args=[
            "clinicians",
            "set",
            "ben",
            "--verified-on",
            "2026-01-02",
            "--lapses-on",
            lapses,
            "--skill",
            "older_adult",
            "--skill",
            "autism",
        ]
    )
    assert result.exit_code == 0, result.output
    demo.expire_all()
    ben = user_of(demo, "ben").clinician
    assert ben is not None
    assert ben.registration_number == "7012345", "what is not given stays"
    assert {s.value for s in ben.skill_set} == {"older_adult", "autism"}
    event = demo.scalars(
        select(AuditEvent).where(AuditEvent.subject_id == user_of(demo, "ben").id)
    ).one()
    assert (event.actor_kind, event.source) == ("system", "flask clinicians set")

    listing = runner.invoke(args=["clinicians", "list"])
    assert listing.exit_code == 0
    line = next(row for row in listing.output.splitlines() if row.startswith("ben\t"))
    assert "GMC 7012345" in line
    assert f"lapses {lapses}" in line
    assert line.endswith("LAPSING SOON")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--number", "123"], "A General Medical Council number for a doctor is 7 digits"),
        (["--body", "NMC"], "A doctor registers with: GMC."),
        (["--verified-on", "2026-05-01", "--lapses-on", "2026-04-01"], "lapses after the day"),
        (["--skill", "juggling"], "'juggling' is not one of"),
        (["--phone", "not a phone"], "is not a phone number we can ring"),
        (["--number", "7012345", "--phone", "12"], "is not a phone number"),
        (
            ["--profession", "nurse", "--body", "NMC", "--number", "12A3456E"],
            "already the registration of Amira",
        ),
    ],
)
def test_bad_input_on_the_command_line_is_refused_and_nothing_is_stored(
    app: Flask, demo: Session, args: list[str], message: str
) -> None:
    ben = user_of(demo, "ben").clinician
    assert ben is not None
    before = details_of(ben)
    result = app.test_cli_runner().invoke(args=["clinicians", "set", "ben", *args])
    assert result.exit_code == 1
    assert message in result.output
    demo.expire_all()
    assert details_of(user_of(demo, "ben").clinician) == before  # type: ignore[arg-type]
    unknown = app.test_cli_runner().invoke(
        args=["clinicians", "set", "nobody", "--phone", "07700900000"]
    )
    assert unknown.exit_code == 1
    assert "No staff account is called 'nobody'" in unknown.output


# --- in a browser -----------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'admin.sqlite3'}"
    migrate_and_seed(url)
    server, base = start_server(url)
    try:
        yield base
    finally:
        output = stop_server(server)
        assert "Traceback" not in output, output


@pytest.mark.browser
def test_alex_edits_a_clinician_s_registration_and_skills_in_a_browser(
    chromium: Any, served: str
) -> None:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{served}/login")
        page.get_by_label("Username").fill("alex")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{served}/admin/")
        page.get_by_role("link", name="Clinicians").first.click()
        page.get_by_role("link", name="Dev Patel (paramedic)").click()

        page.get_by_label("Registration number").fill("12345")
        page.get_by_role("button", name="Save").click()
        page.get_by_text(
            "A Health and Care Professions Council number for a paramedic is PA"
        ).first.wait_for()

        page.get_by_label("Registration number").fill("PA54321")
        lapses = today() + timedelta(days=7)
        boxes = page.get_by_role("group", name="Registration lapses on")
        boxes.get_by_label("Day").fill(str(lapses.day))
        boxes.get_by_label("Month").fill(str(lapses.month))
        boxes.get_by_label("Year").fill(str(lapses.year))
        page.get_by_label("autism").check()
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Dev Patel (paramedic)'s details are saved.").wait_for()
        row = page.locator("tr", has_text="Dev Patel")
        assert "HCPC PA54321" in row.inner_text()
        assert "autism" in row.inner_text()
        assert "lapsing soon" in row.inner_text()
    finally:
        context.close()
