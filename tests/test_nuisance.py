"""Nuisance cannot starve the queue: one open request per number, a per-number limit,
nuisance calls closed by a senior, silent unverified callers shown and ranked as such."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.config import ConfigurationError, settings_from_env
from advice_line.demo import seed_demo
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRequest,
    AuditEvent,
    Channel,
    Message,
    Officer,
    OfficerPhone,
    Priority,
    RequestStatus,
    Standing,
    Task,
    User,
)
from advice_line.routing import views
from advice_line.routing.engine import queue_order
from tests.fake_twilio import FakeTwilio
from tests.test_console import csrf, message_request, sign_in
from tests.test_telephony_messages import text
from tests.test_telephony_voice import (
    OFFICER_NUMBER,
    UNKNOWN_NUMBER,
    _connected_call,
    answer,
    call_sid,
    incoming,
    known_officer_call,
)
from tests.twilio_support import Twilio, attribute, gather_action, spoken, twilio_env

ACTOR = Actor("test")


@pytest.fixture
def officer(session: Session) -> None:
    """PC Jo Smith, whose phone is on the officer register."""
    session.add(
        Officer(
            force="Metropolitan Police Service",
            collar_number="MP1234",
            name="PC Jo Smith",
            created_at=datetime.now(UTC),
            phones=[OfficerPhone(number=OFFICER_NUMBER, verified_at=datetime.now(UTC))],
        )
    )
    session.commit()


@pytest.fixture
def demo(session: Session) -> None:
    """The demo's staff (sam the senior, amira, morgan) and officer PC Jo Smith."""
    seed_demo(session, now=datetime.now(UTC))
    session.commit()


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url) | {"NEW_REQUESTS_PER_NUMBER": "3 per hour"}


def silent_call(twilio: Twilio, number: str) -> tuple[str, ET.Element]:
    """A caller who says nothing through the whole menu; return the call and its TwiML."""
    sid = call_sid()
    document = incoming(twilio, number, sid)
    while document.find("Gather") is not None:
        document = answer(twilio, document, sid)
    return sid, document


def hold(twilio: Twilio, document: ET.Element, sid: str) -> str:
    return spoken(twilio.twiml(attribute(document, "Dial/Conference", "waitUrl"), {"CallSid": sid}))


def requests(session: Session) -> list[AdviceRequest]:
    session.expire_all()
    return list(session.scalars(select(AdviceRequest).order_by(AdviceRequest.id)))


def hang_up(twilio: Twilio, sid: str) -> None:
    twilio.post("/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed"})


# --- the finding: twenty silent calls from one number ---------------------------------


def test_twenty_silent_calls_from_one_number_are_one_request_and_an_officer_is_next(
    twilio: Twilio, session: Session, officer: None
) -> None:
    first, document = silent_call(twilio, UNKNOWN_NUMBER)
    assert document.find("Dial/Conference") is not None
    for _ in range(19):
        sid = call_sid()
        joined = incoming(twilio, UNKNOWN_NUMBER, sid)
        assert "You are already in the queue with request AL-" in spoken(joined)
        assert "you keep your place" in spoken(joined)
        assert "You are next." in hold(twilio, joined, sid)
    (silent,) = requests(session)
    assert silent.joined_contacts == 19
    assert silent.status == RequestStatus.QUEUED
    assert silent.priority == Priority.RISK_TO_LIFE, "silence keeps the safe default"
    assert silent.risk_to_life is None, "and is shown as not answered, not as a yes"
    assert silent.standing == Standing.UNVERIFIED_SILENT
    assert (
        session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "request.joined")
        )
        == 19
    )

    officer_sid = call_sid()
    document = known_officer_call(twilio, officer_sid, risk="1")
    assert "You are next." in hold(twilio, document, officer_sid)
    held = twilio.twiml(f"/twilio/voice/hold/{silent.id}", {"CallSid": first})
    assert "You are number 2 in the queue." in spoken(held)


def test_silent_callers_from_many_numbers_still_rank_after_an_officer_at_risk(
    twilio: Twilio, session: Session, officer: None
) -> None:
    for number in range(5):
        silent_call(twilio, f"+4477009001{number:02d}")
    officer_sid = call_sid()
    document = known_officer_call(twilio, officer_sid, risk="1")
    assert "You are next." in hold(twilio, document, officer_sid)
    order = [session.get_one(AdviceRequest, i).standing for i in session.scalars(queue_order())]
    assert order == [Standing.ANSWERED] + [Standing.UNVERIFIED_SILENT] * 5


# --- joining, on every channel and at every stage -------------------------------------


def test_a_second_call_during_the_first_ones_menu_answers_for_the_same_request(
    twilio: Twilio, session: Session
) -> None:
    first, second = call_sid(), call_sid()
    incoming(twilio, UNKNOWN_NUMBER, first)
    document = incoming(twilio, UNKNOWN_NUMBER, second)
    (request,) = requests(session)
    assert f"/intake/{request.id}/" in gather_action(document)
    document = answer(twilio, document, second, digits="4321")
    assert requests(session)[0].claimed_collar_number == "4321"
    assert requests(session)[0].standing == Standing.ANSWERED


def test_a_call_still_in_the_menu_when_the_other_finishes_it_joins_the_queue(
    twilio: Twilio, session: Session
) -> None:
    first, second = call_sid(), call_sid()
    incoming(twilio, UNKNOWN_NUMBER, first)
    waiting = incoming(twilio, UNKNOWN_NUMBER, second)
    document = incoming(twilio, UNKNOWN_NUMBER, first)  # Twilio's retry: the first's menu
    while document.find("Gather") is not None:
        document = answer(twilio, document, first)
    assert requests(session)[0].status == RequestStatus.QUEUED
    document = answer(twilio, waiting, second, digits="4321")
    assert document.find("Gather") is None, "no more questions once the request is queued"
    assert "already in the queue" in spoken(document)
    assert document.find("Dial/Conference") is not None
    (request,) = requests(session)
    assert request.status == RequestStatus.QUEUED


def test_hanging_up_one_call_while_another_waits_keeps_the_request_in_the_queue(
    twilio: Twilio, session: Session, officer: None
) -> None:
    first, second = call_sid(), call_sid()
    known_officer_call(twilio, first)
    incoming(twilio, OFFICER_NUMBER, second)
    hang_up(twilio, first)
    (request,) = requests(session)
    assert request.status == RequestStatus.QUEUED
    assert session.scalar(select(func.count(Task.id))) == 0, "no call-back: still on the line"
    hang_up(twilio, second)
    assert requests(session)[0].status == RequestStatus.ABANDONED


def test_a_call_while_with_a_clinician_joins_the_conversation_until_the_last_call_ends(
    twilio: Twilio, session: Session, officer: None, fake_twilio: FakeTwilio
) -> None:
    officer_sid, _ = _connected_call(twilio, session, fake_twilio)
    second = call_sid()
    document = incoming(twilio, OFFICER_NUMBER, second)
    assert "A clinician has your request" in spoken(document)
    assert document.find("Dial/Conference") is not None
    hang_up(twilio, officer_sid)
    assert requests(session)[0].status == RequestStatus.CONNECTED
    hang_up(twilio, second)
    (request,) = requests(session)
    assert request.status == RequestStatus.WRAP_UP
    assert request.joined_contacts == 1


def test_a_call_after_the_conversation_ended_opens_a_new_request(
    twilio: Twilio, session: Session, officer: None, fake_twilio: FakeTwilio
) -> None:
    officer_sid, _ = _connected_call(twilio, session, fake_twilio)
    hang_up(twilio, officer_sid)
    known_officer_call(twilio, call_sid())
    wrap_up, new = requests(session)
    assert wrap_up.status == RequestStatus.WRAP_UP
    assert new.status == RequestStatus.QUEUED
    assert new.joined_contacts == 0


@pytest.mark.parametrize("sender", [OFFICER_NUMBER, f"whatsapp:{OFFICER_NUMBER}"])
def test_a_message_while_a_call_waits_joins_the_call_request(
    twilio: Twilio, session: Session, officer: None, sender: str
) -> None:
    known_officer_call(twilio, call_sid())
    reply = text(twilio, "He has a knife now", sender=sender)
    (request,) = requests(session)
    assert f"Added to {request.reference}" in reply
    assert request.joined_contacts == 1
    message = session.scalars(select(Message)).one()
    assert message.request_id == request.id


def test_messages_from_one_number_stay_one_request_on_sms_and_whatsapp(
    twilio: Twilio, session: Session
) -> None:
    text(twilio, "Need advice, man on a bridge", sender=UNKNOWN_NUMBER)
    text(twilio, "Still here", sender=f"whatsapp:{UNKNOWN_NUMBER}")
    (request,) = requests(session)
    assert request.channel == Channel.SMS
    assert session.scalar(select(func.count(Message.id))) == 2


# --- the per-number limit -------------------------------------------------------------


def test_a_number_past_its_limit_is_still_answered_and_queued_but_ranked_last(
    twilio: Twilio, session: Session
) -> None:
    for _ in range(3):
        sid, _document = silent_call(twilio, UNKNOWN_NUMBER)
        hang_up(twilio, sid)
    _fourth, document = silent_call(twilio, UNKNOWN_NUMBER)
    assert document.find("Dial/Conference") is not None, "never dropped"
    _other, _document = silent_call(twilio, "+447700900555")
    *earlier, over, silent = requests(session)
    assert all(r.status == RequestStatus.ABANDONED for r in earlier)
    assert over.status == RequestStatus.QUEUED
    assert over.over_limit
    assert over.standing == Standing.OVER_LIMIT
    assert over.priority == Priority.RISK_TO_LIFE
    assert list(session.scalars(queue_order())) == [silent.id, over.id]
    card = views.queue(session)[1]
    assert card["standing"] == "over the limit for this number"
    created = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "request.created", AuditEvent.request_id == over.id
        )
    ).one()
    assert created.detail["over_limit"] is True


def test_the_limit_counts_texts_too(twilio: Twilio, session: Session) -> None:
    for n in range(4):
        text(twilio, f"incident {n}", sender=UNKNOWN_NUMBER)
        request = requests(session)[-1]
        lifecycle.cancel(session, request.id, now=datetime.now(UTC), actor=ACTOR, reason="test")
        session.commit()
    assert [r.over_limit for r in requests(session)] == [False, False, False, True]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("6 per hour", (6, timedelta(hours=1))), ("10 per 2 hours", (10, timedelta(hours=2)))],
)
def test_the_limit_is_read_from_the_environment(
    value: str, expected: tuple[int, timedelta]
) -> None:
    env = {"ADVICE_LINE_MODE": "demo", "NEW_REQUESTS_PER_NUMBER": value}
    assert settings_from_env(env, "/tmp")["NEW_REQUESTS_PER_NUMBER"] == expected  # noqa: S108


@pytest.mark.parametrize("value", ["six per hour", "0 per hour", "6 per fortnight", "6"])
def test_a_malformed_limit_stops_the_app_with_a_clear_error(value: str) -> None:
    env = {"ADVICE_LINE_MODE": "demo", "NEW_REQUESTS_PER_NUMBER": value}
    with pytest.raises(ConfigurationError, match="NEW_REQUESTS_PER_NUMBER must look like"):
        settings_from_env(env, "/tmp")  # noqa: S108


# --- a senior closes a nuisance call --------------------------------------------------


def _user_id(session: Session, username: str) -> int:
    return session.scalars(select(User.id).where(User.username == username)).one()


def _nuisance(
    app: Flask, username: str, request_id: int, reason: str, *, token: bool = True
) -> tuple[FlaskClient, TestResponse]:
    client = sign_in(app, username)
    data = {"reason": reason}
    if token:
        data["csrf_token"] = csrf(client, "/console")
    return client, client.post(f"/console/requests/{request_id}/nuisance", data=data)


def test_a_senior_closes_a_silent_caller_as_a_nuisance_call_and_their_call_ends(
    app: Flask, twilio: Twilio, session: Session, fake_twilio: FakeTwilio, demo: None
) -> None:
    sid, _document = silent_call(twilio, UNKNOWN_NUMBER)
    (request,) = requests(session)
    floor = sign_in(app, "sam").get("/console/floor").get_data(as_text=True)
    assert "unverified, no answers" in floor
    assert f"Close {request.reference} as a nuisance call" in floor

    client, response = _nuisance(app, "sam", request.id, "Silent, 20 calls in 5 minutes")
    assert response.status_code == 302
    (request,) = requests(session)
    assert request.status == RequestStatus.CANCELLED
    assert request.nuisance_at is not None
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "request.nuisance")).one()
    assert event.detail["reason"] == "Silent, 20 calls in 5 minutes"
    assert event.actor_user_id == _user_id(session, "sam")
    hung_up = [r for r in fake_twilio.received if r.path.endswith(f"/Calls/{sid}.json")]
    assert [r.form["Status"] for r in hung_up] == ["completed"]
    page = client.get(f"/console/requests/{request.id}").get_data(as_text=True)
    assert "Closed as a nuisance call" in page
    assert "Silent, 20 calls" in page
    assert views.queue(session) == []
    dashboard = sign_in(app, "morgan").get("/reports/").get_data(as_text=True)
    figures = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dashboard)).split())
    assert "Nuisance calls closed by a senior (not queued) 1" in figures
    assert "Queued / answered 0 / 0" in figures, "not queued"
    hang_up(twilio, sid)
    assert session.scalar(select(func.count(Task.id))) == 0, "no call-back for a nuisance"


def test_a_clinician_cannot_close_a_nuisance_call(
    app: Flask, twilio: Twilio, session: Session, demo: None
) -> None:
    silent_call(twilio, UNKNOWN_NUMBER)
    (request,) = requests(session)
    client, response = _nuisance(app, "amira", request.id, "I think it is a prank")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Only a senior clinician may mark a request as a nuisance call." in page
    assert requests(session)[0].status == RequestStatus.QUEUED
    assert (
        session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "request.nuisance")
        )
        == 0
    )


def test_bad_nuisance_input_is_refused_and_changes_nothing(
    app: Flask, twilio: Twilio, session: Session, demo: None, fake_twilio: FakeTwilio
) -> None:
    silent_call(twilio, UNKNOWN_NUMBER)
    (request,) = requests(session)
    client, response = _nuisance(app, "sam", request.id, "   ")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Give a reason of 1 to 200 characters." in page
    _, response = _nuisance(app, "sam", request.id, "x" * 201)
    _, response = _nuisance(app, "sam", request.id, "no token", token=False)
    assert response.status_code == 400
    client, response = _nuisance(app, "sam", 99999, "unknown")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "There is no advice request 99999." in page
    assert requests(session)[0].status == RequestStatus.QUEUED
    assert requests(session)[0].nuisance_at is None


def test_a_request_with_a_clinician_cannot_be_closed_as_nuisance(
    session: Session, demo: None
) -> None:
    request = message_request(session, accepted_by="amira")

    def close_as_nuisance(reason: str) -> None:
        lifecycle.mark_nuisance(
            session,
            request.id,
            _user_id(session, "sam"),
            now=datetime.now(UTC),
            actor=ACTOR,
            reason=reason,
        )

    with pytest.raises(IllegalTransition, match="only a request nobody has taken"):
        close_as_nuisance("abusive")
    session.rollback()
    with pytest.raises(InvalidInput):
        close_as_nuisance("")
    session.rollback()
    assert requests(session)[0].status == RequestStatus.CONNECTED


# --- shown as such everywhere ---------------------------------------------------------


def test_silent_unverified_callers_are_shown_as_such_on_console_floor_and_board(
    app: Flask, twilio: Twilio, session: Session, demo: None
) -> None:
    silent_call(twilio, UNKNOWN_NUMBER)
    sid = call_sid()
    document = answer(twilio, incoming(twilio, "+447700900555", sid), sid, digits="4321")
    while document.find("Gather") is not None:
        document = answer(twilio, document, sid)
    state = sign_in(app, "amira").get("/console/api/state").get_json()
    assert [card["standing"] for card in state["queue"]] == [None, "unverified, no answers"]
    floor = sign_in(app, "sam").get("/console/floor").get_data(as_text=True)
    assert floor.count("unverified, no answers") == 1
    board = sign_in(app, "morgan").get("/reports/live").get_data(as_text=True)
    assert re.search(r'id="board-silent">1<', board)
    assert views.board(session, datetime.now(UTC), RoutingPolicy())["unverified_no_answers"] == 1
