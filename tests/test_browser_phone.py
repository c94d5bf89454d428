"""The browser phone: its token, the socket's word, ringing the browser, falling back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.config import ConfigurationError, settings_from_env
from advice_line.demo import seed_demo
from advice_line.extensions import db
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AuditEvent, CallLeg, Clinician, RequestStatus
from tests.builders import add_clinician
from tests.conftest import demo_env, make_app
from tests.fake_twilio import FakeTwilio
from tests.test_console import clinician_id, connect, csrf, demo, sign_in
from tests.test_telephony_voice import call_sid, known_officer_call, officer, only_request
from tests.twilio_support import Twilio, text_of, twilio_env

__all__ = ["demo", "officer"]  # fixtures used by name
POLICY = RoutingPolicy()
API_KEY = "SK" + "b" * 32
API_SECRET = "test-api-key-secret-0123456789"
TOKEN_PATH = "/console/api/phone-token"


def _token(app: Flask, username: str, *, with_csrf: bool = True) -> Any:
    client = sign_in(app, username)
    page = "/login" if username == "anonymous" else "/console"
    headers = {"X-CSRFToken": csrf(client, page)} if with_csrf else {}
    return client.post(TOKEN_PATH, headers=headers)


# --- the token --------------------------------------------------------------------------


def test_a_clinician_gets_a_short_lived_voice_token_for_their_own_identity(
    app: Flask, demo: Session
) -> None:
    response = _token(app, "amira")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    me = clinician_id(demo, "amira")
    body = response.get_json()
    assert body["identity"] == f"clinician-{me}"
    config = app.config
    claims = jwt.decode(body["token"], config["TWILIO_API_KEY_SECRET"], algorithms=["HS256"])
    assert claims["iss"] == config["TWILIO_API_KEY_SID"]
    assert claims["sub"] == config["TWILIO_ACCOUNT_SID"]
    assert claims["grants"] == {
        "identity": f"clinician-{me}",
        "voice": {"incoming": {"allow": True}},
    }
    assert 290 < claims["exp"] - time.time() <= 300, "valid five minutes from now"
    assert "amira" not in str(claims).lower(), "the identity names no one"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(body["token"], "another secret, as long as a real one", algorithms=["HS256"])
    demo.expire_all()
    issued = demo.scalars(
        select(AuditEvent).where(AuditEvent.action == "clinician.browser_phone_token")
    ).one()
    assert issued.subject_id == me


@pytest.mark.parametrize(
    ("username", "status"), [("anonymous", 401), ("morgan", 403), ("alex", 403)]
)
def test_only_signed_in_clinicians_get_a_token(
    app: Flask, demo: Session, username: str, status: int
) -> None:
    response = _token(app, username)
    assert response.status_code == status
    assert not response.is_json


def test_a_token_needs_the_csrf_token_and_a_post(app: Flask, demo: Session) -> None:
    assert _token(app, "amira", with_csrf=False).status_code == 400
    assert sign_in(app, "amira").get(TOKEN_PATH).status_code == 405
    assert demo.scalars(select(AuditEvent.id).where(AuditEvent.action.like("%token"))).all() == []


def test_without_an_api_key_there_is_no_browser_phone(database_url: str) -> None:
    app = make_app(database_url, **twilio_env("http://127.0.0.1:9"))
    assert app.config["BROWSER_PHONE"] is False
    with app.app_context():
        seed_demo(db.session(), now=datetime.now(UTC))
        db.session.commit()
        assert _token(app, "amira").status_code == 404
        page = sign_in(app, "amira").get("/console").get_data(as_text=True)
        assert 'id="phone"' not in page
        assert "twilio.min" not in page
        db.session.remove()
        db.engine.dispose()


def test_the_api_key_is_both_settings_or_neither(tmp_path: Path) -> None:
    env = {**twilio_env("http://127.0.0.1:9"), "TWILIO_API_KEY_SID": API_KEY}
    with pytest.raises(ConfigurationError, match="TWILIO_API_KEY_SECRET"):
        settings_from_env(demo_env("sqlite://", **env), str(tmp_path))


# --- the socket's word ------------------------------------------------------------------


def test_the_console_says_when_its_browser_can_take_calls(app: Flask, demo: Session) -> None:
    me = clinician_id(demo, "amira")
    socket = connect(app, sign_in(app, "amira"))
    assert socket.emit("phone", {"ready": True}, callback=True) == {"ok": True}
    assert socket.emit("phone", {"ready": True}, callback=True) == {"ok": True}
    demo.expire_all()
    clinician = demo.get_one(Clinician, me)
    assert lifecycle.takes_calls_in_browser(clinician, now=datetime.now(UTC), policy=POLICY)
    later = datetime.now(UTC) + POLICY.presence_grace + timedelta(seconds=1)
    assert not lifecycle.takes_calls_in_browser(clinician, now=later, policy=POLICY)
    socket.disconnect()  # the tab is gone
    demo.expire_all()
    assert demo.get_one(Clinician, me).browser_phone_at is None
    changes = demo.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "clinician.browser_phone")
    ).all()
    assert changes == [{"ready": True}, {"ready": False}], "only changes are audited"


def test_a_page_that_closes_leaves_alone_a_page_that_said_ready_since(
    app: Flask, demo: Session
) -> None:
    me = clinician_id(demo, "amira")
    client = sign_in(app, "amira")
    old, new = connect(app, client), connect(app, client)
    assert old.emit("phone", {"ready": True}, callback=True) == {"ok": True}
    assert new.emit("phone", {"ready": True}, callback=True) == {"ok": True}
    old.disconnect()
    demo.expire_all()
    assert demo.get_one(Clinician, me).browser_phone_at is not None
    assert new.emit("phone", {"ready": False}, callback=True) == {"ok": True}
    demo.expire_all()
    assert demo.get_one(Clinician, me).browser_phone_at is None
    new.disconnect()


def test_a_console_gone_quiet_no_longer_takes_calls_in_the_browser(
    app: Flask, demo: Session
) -> None:
    me = clinician_id(demo, "amira")
    now = datetime.now(UTC)
    lifecycle.console_seen(demo, me, now=now)
    lifecycle.set_browser_phone(demo, me, ready=True, now=now, actor=Actor("test"), policy=POLICY)
    demo.commit()
    later = now + POLICY.presence_grace + timedelta(seconds=1)
    swept = lifecycle.sweep_lost_consoles(demo, now=later, actor=Actor("test"), policy=POLICY)
    demo.commit()
    assert me in swept
    assert demo.get_one(Clinician, me).browser_phone_at is None


@pytest.mark.parametrize("payload", [None, [], "ready", {}, {"ready": "yes"}, {"ready": 1}])
def test_bad_words_from_the_console_are_refused_and_change_nothing(
    app: Flask, demo: Session, payload: object
) -> None:
    socket = connect(app, sign_in(app, "amira"))
    assert socket.emit("phone", payload, callback=True) == {"error": "ready must be true or false"}
    demo.expire_all()
    assert demo.get_one(Clinician, clinician_id(demo, "amira")).browser_phone_at is None
    socket.disconnect()


def test_a_manager_cannot_say_a_browser_takes_calls(app: Flask, demo: Session) -> None:
    socket = connect(app, sign_in(app, "morgan"))
    answer = socket.emit("phone", {"ready": True}, callback=True)
    assert answer["status"] == 403
    socket.disconnect()


# --- ringing the browser, falling back to the phone --------------------------------------


@pytest.fixture
def app_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if "fake_twilio" not in request.fixturenames:
        return {}
    fake: FakeTwilio = request.getfixturevalue("fake_twilio")
    return {
        **twilio_env(fake.base_url),
        "TWILIO_API_KEY_SID": API_KEY,
        "TWILIO_API_KEY_SECRET": API_SECRET,
    }


def _accepted(session: Session, *, browser_said: datetime | None) -> Clinician:
    clinician = add_clinician(session)
    clinician.browser_phone_at = browser_said
    session.commit()
    request = only_request(session)
    lifecycle.accept(
        session, request.id, clinician.id, now=datetime.now(UTC), actor=Actor("test"), policy=POLICY
    )
    session.commit()
    return clinician


def _status(twilio: Twilio, sid: str, status: str, sequence: int = 3) -> None:
    params = {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(sequence)}
    assert twilio.post("/twilio/voice/status", params).status_code == 204


def test_a_ready_browser_is_rung_and_answers_into_the_conference(
    twilio: Twilio, session: Session, officer: object, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    clinician = _accepted(session, browser_said=datetime.now(UTC))
    (placed,) = fake_twilio.calls()
    assert placed.form["To"] == f"client:clinician-{clinician.id}"
    assert fake_twilio.refused == []
    joined = twilio.twiml(placed.form["Url"], {"CallSid": placed.sid})
    request = only_request(session)
    assert text_of(joined, "Dial/Conference") == request.reference
    assert request.status == RequestStatus.CONNECTED


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
def test_a_browser_that_does_not_answer_falls_back_to_the_phone(
    twilio: Twilio, session: Session, officer: object, fake_twilio: FakeTwilio, status: str
) -> None:
    known_officer_call(twilio, call_sid())
    clinician = _accepted(session, browser_said=datetime.now(UTC))
    (browser,) = fake_twilio.calls()
    _status(twilio, browser.sid, "ringing", 1)
    _status(twilio, browser.sid, status, 2)
    _status(twilio, browser.sid, status, 2)  # Twilio retries: applied once
    _, phone_call = fake_twilio.calls()
    assert phone_call.form["To"] == clinician.phone
    request = only_request(session)
    assert request.status == RequestStatus.ACCEPTED, "still theirs, on the phone now"
    twilio.twiml(phone_call.form["Url"], {"CallSid": phone_call.sid})
    assert only_request(session).status == RequestStatus.CONNECTED
    fallback = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "request.browser_not_answered")
    ).one()
    assert fallback.detail == {"call": status}


def test_an_unanswered_phone_after_the_browser_requeues_the_request(
    twilio: Twilio, session: Session, officer: object, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    _accepted(session, browser_said=datetime.now(UTC))
    (browser,) = fake_twilio.calls()
    _status(twilio, browser.sid, "no-answer")
    _, phone = fake_twilio.calls()
    _status(twilio, phone.sid, "no-answer")
    assert len(fake_twilio.calls()) == 2, "no ringing round in circles"
    assert only_request(session).status == RequestStatus.QUEUED


@pytest.mark.parametrize("said", [None, "stale"])
def test_a_browser_not_ready_is_passed_over_for_the_phone(
    twilio: Twilio, session: Session, officer: object, fake_twilio: FakeTwilio, said: str | None
) -> None:
    known_officer_call(twilio, call_sid())
    long_ago = datetime.now(UTC) - POLICY.presence_grace - timedelta(seconds=5)
    clinician = _accepted(session, browser_said=long_ago if said else None)
    (placed,) = fake_twilio.calls()
    assert placed.form["To"] == clinician.phone


def test_twilio_refusing_the_browser_call_rings_the_phone(
    twilio: Twilio, session: Session, officer: object, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    fake_twilio.fail_next(400, 21211)
    clinician = _accepted(session, browser_said=datetime.now(UTC))
    assert fake_twilio.refused[0][1]["code"] == 21211
    (placed,) = fake_twilio.calls()
    assert placed.form["To"] == clinician.phone
    legs = session.scalars(select(CallLeg.number)).all()
    assert clinician.phone in legs


# --- the security policy -----------------------------------------------------------------


def test_only_console_pages_may_use_the_microphone_and_reach_twilio(
    app: Flask, demo: Session
) -> None:
    client = sign_in(app, "amira")
    console = client.get("/console")
    assert console.headers["Permissions-Policy"] == "microphone=(self)"
    policy = console.headers["Content-Security-Policy"]
    assert (
        "connect-src 'self' wss://voice-js.roaming.twilio.com https://eventgw.twilio.com" in policy
    )
    assert "media-src 'self' https://sdk.twilio.com" in policy
    assert "script-src 'self';" in policy
    for path in ("/login", "/reports/", "/simulator/"):
        other = sign_in(app, "morgan").get(path)
        assert other.headers["Permissions-Policy"] == "microphone=()", path
        assert "twilio" not in other.headers["Content-Security-Policy"], path
