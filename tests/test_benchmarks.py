"""The benchmarks' ceiling endpoint: a signed call writes three rows at once; others nothing."""

from __future__ import annotations

import urllib.parse

from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from benchmarks.ceiling_app import CeilingCall, CeilingEvent, CeilingRequest, create_app
from benchmarks.webhooks import PUBLIC, TOKEN, Traffic

CALLER = {"CallSid": "CA" + "1" * 32, "From": "+447700900123", "To": "+441632960999"}


def _ceiling(database_url: str) -> Flask:
    env = {"DATABASE_URL": database_url, "TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": PUBLIC}
    return create_app(env)


def _counts(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return [
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (CeilingRequest, CeilingCall, CeilingEvent)
        ]


def test_a_signed_call_writes_its_request_call_and_event(database_url: str) -> None:
    app = _ceiling(database_url)
    engine = app.extensions["ceiling_engine"]
    try:
        made = Traffic().incoming_call()
        assert made is not None
        path, body, headers = made
        response = app.test_client().post(path, data=body, headers=headers)
        assert response.status_code == 200
        assert "<Say>" in response.get_data(as_text=True)
        assert _counts(engine) == [1, 1, 1]
        with Session(engine) as session:
            call = session.scalars(select(CeilingCall)).one()
            event = session.scalars(select(CeilingEvent)).one()
            assert call.request_id == event.request_id
            assert event.details == {"call": call.call_sid}
    finally:
        engine.dispose()


def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_stored(database_url: str) -> None:
    app = _ceiling(database_url)
    engine = app.extensions["ceiling_engine"]
    client = app.test_client()
    body = urllib.parse.urlencode(CALLER)
    form = "application/x-www-form-urlencoded"
    try:
        for headers in ({"X-Twilio-Signature": "bm90IHRoZSBzaWduYXR1cmU="}, {}):
            response = client.post(
                "/twilio/voice", data=body, headers={"Content-Type": form, **headers}
            )
            assert response.status_code == 403
        assert _counts(engine) == [0, 0, 0]
    finally:
        engine.dispose()
