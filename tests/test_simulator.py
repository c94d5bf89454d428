"""The built-in simulator plays Twilio for a demo: the same signed webhooks, end to end."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from advice_line.clock import utcnow
from advice_line.demo import CONSOLE_CLINICIAN, seed_demo
from advice_line.extensions import db
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AdviceRequest, RequestStatus
from advice_line.routing.scheduler import Scheduler
from advice_line.simulator.switchboard import Switchboard
from tests.test_console import connect, received, sign_in
from tests.twiml_check import twiml_errors

OFFICER = "+447700900201"


@pytest.fixture(autouse=True)
def _every_twiml_answer_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check each TwiML document the line gives the simulator against Twilio's grammar."""
    real_post = Switchboard.post

    def checked_post(board: Switchboard, url: str, params: dict[str, str]) -> str:
        body = real_post(board, url, params)
        if body.startswith("<?xml"):
            kind = "messaging" if "/twilio/sms" in url else "voice"
            assert twiml_errors(body, kind) == [], (url, body)
        return body

    monkeypatch.setattr(Switchboard, "post", checked_post)


@pytest.fixture
def demo(app: Flask, session: Session) -> FlaskClient:
    assert app.config["TWILIO_SIMULATED"] is True
    seed_demo(session, now=utcnow())
    session.commit()
    return app.test_client()


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/simulator/").get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def act(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post("/simulator/act", json=body, headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 200, response.get_json()
    state: dict[str, Any] = response.get_json()
    return state


def call_to(state: dict[str, Any], number: str) -> dict[str, Any]:
    return next(c for c in state["calls"] if c["number"] == number)


def route(app: Flask) -> None:
    scheduler = Scheduler(
        sessionmaker(bind=db.engine),
        RoutingPolicy.from_config(app.config),
        name="test",
        context=app.app_context,
    )
    db.session.commit()
    scheduler.tick()


def the_request(session: Session) -> AdviceRequest:
    session.rollback()
    return session.scalars(select(AdviceRequest)).one()


def test_an_officer_and_an_on_call_clinician_talk_through_the_simulator(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    assert demo.get("/simulator/").status_code == 200
    state = act(demo, action="dial", number=OFFICER)
    officer_call = call_to(state, OFFICER)
    assert "Hello PC Jo Smith" in " ".join(officer_call["transcript"])
    assert officer_call["awaiting_keys"] is True
    for digits in ("1", "2", "2"):
        state = act(demo, action="press", sid=officer_call["sid"], digits=digits)
    request = the_request(session)
    assert call_to(state, OFFICER)["conference"] == request.reference
    assert request.status == RequestStatus.QUEUED

    route(app)
    ringing = [
        c
        for c in act(demo, action="refresh", sid=officer_call["sid"])["calls"]
        if c["direction"] == "outbound"
    ]
    assert len(ringing) == 1
    assert ringing[0]["status"] == "ringing"
    state = act(demo, action="answer", sid=ringing[0]["sid"])
    whisper = " ".join(call_to(state, ringing[0]["number"])["transcript"])
    assert f"Request {request.reference} from PC Jo Smith" in whisper
    assert "Press 1 to accept" in whisper
    state = act(demo, action="press", sid=ringing[0]["sid"], digits="1")
    assert call_to(state, OFFICER)["talking"] is True
    assert the_request(session).status == RequestStatus.CONNECTED

    state = act(demo, action="hangup", sid=officer_call["sid"])
    assert call_to(state, ringing[0]["number"])["status"] == "completed"
    assert the_request(session).status == RequestStatus.WRAP_UP


def test_messages_and_a_clinicians_reply_through_the_simulator(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    state = act(demo, action="text", number=OFFICER, body="<script>alert(1)</script> on bridge")
    (exchange,) = state["messages_to_line"]
    request = the_request(session)
    assert request.reference in exchange["reply"]
    route(app)
    ringing = next(c for c in demo.get("/simulator/state").get_json()["calls"])
    act(demo, action="answer", sid=ringing["sid"])
    state = act(demo, action="press", sid=ringing["sid"], digits="1")
    assert the_request(session).status == RequestStatus.CONNECTED
    officer_call = call_to(state, OFFICER)
    assert officer_call["status"] == "ringing", "an SMS taken by phone calls the officer back"
    clinician_id = the_request(session).offers[0].clinician_id
    state = act(
        demo,
        action="reply",
        reference=request.reference,
        clinician=str(clinician_id),
        body="Calling you now",
    )
    assert state["messages_from_line"][-1] == {
        "sid": state["messages_from_line"][-1]["sid"],
        "to": OFFICER,
        "body": "Calling you now",
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "explode"}, 400),
        ({}, 400),
        ({"action": "dial"}, 400),
        ({"action": "dial", "number": "x" * 41}, 400),
        ({"action": "press", "sid": "CA-nope"}, 404),
        ({"action": "reply", "reference": "AL-x", "clinician": "1", "body": "hi"}, 400),
        ({"action": "reply", "reference": "AL-404", "clinician": "1", "body": "hi"}, 400),
    ],
)
def test_bad_simulator_actions_get_a_clear_error(
    demo: FlaskClient, body: dict[str, Any], status: int
) -> None:
    response = demo.post("/simulator/act", json=body, headers={"X-CSRFToken": csrf_token(demo)})
    assert response.status_code == status
    assert response.get_json()["error"]


def test_simulator_actions_need_the_csrf_token(demo: FlaskClient) -> None:
    response = demo.post("/simulator/act", json={"action": "dial", "number": OFFICER})
    assert response.status_code == 400
    assert demo.get("/simulator/state").get_json()["calls"] == []


def test_a_webhook_the_simulator_calls_is_logged_under_its_own_request_id(
    demo: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    act(demo, action="text", number=OFFICER, body="He is on the bridge")
    written = capsys.readouterr().err

    access = re.findall(r"advice_line\.access \[(\w+)\] POST (\S+) 200 ", written)
    ids = {path: request_id for request_id, path in access}
    assert set(ids) == {"/simulator/act", "/twilio/sms"}
    assert ids["/simulator/act"] != ids["/twilio/sms"]
    assert OFFICER not in written
    assert "bridge" not in written


def test_in_the_demo_the_first_call_is_offered_to_the_console_clinician(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    amira = connect(app, sign_in(app, CONSOLE_CLINICIAN))
    # Back from a break: away, then available (her idle time starts now, after everyone's).
    for status in ("away", "available"):
        assert amira.emit("set_status", {"status": status}, callback=True) == {"ok": True}
    state = act(demo, action="dial", number=OFFICER)
    officer_call = call_to(state, OFFICER)
    for digits in ("1", "2", "2"):
        act(demo, action="press", sid=officer_call["sid"], digits=digits)
    amira.get_received()

    route(app)
    (offer,) = the_request(session).offers
    assert offer.clinician.user.username == CONSOLE_CLINICIAN
    mine = received(amira, "mine")[-1]
    assert mine["offer"]["reference"] == the_request(session).reference
    calls = act(demo, action="refresh", sid=officer_call["sid"])["calls"]
    assert not [c for c in calls if c["direction"] == "outbound"], "no simulated phone rang"
    amira.disconnect()


def test_a_request_made_in_the_simulator_is_found_by_search(
    app: Flask, session: Session, demo: FlaskClient
) -> None:
    page = demo.get("/simulator/").get_data(as_text=True)
    assert 'href="/search" id="search-link"' in page
    act(demo, action="text", number=OFFICER, body="He is on the bridge")
    made = session.scalars(select(AdviceRequest)).one()
    sam = sign_in(app, "sam")
    for query in ("collar_number=MP1234", "phone=07700+900201", f"reference={made.reference}"):
        results = sam.get(f"/search?{query}").get_data(as_text=True)
        assert f'href="/console/requests/{made.id}">{made.reference}</a>' in results, query
        assert "PC Jo Smith, MP1234, Metropolitan Police Service" in results
