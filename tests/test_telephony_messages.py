"""Officers message the line by SMS or WhatsApp; clinicians reply; decisions come back."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Channel,
    Detention,
    Message,
    MessageDirection,
    OfficerDecision,
    RequestStatus,
)
from advice_line.telephony import messages, replies
from advice_line.telephony.twiml import RISK_ADVICE
from tests.builders import add_clinician, complete_input
from tests.fake_twilio import INVALID_NUMBER, FakeTwilio
from tests.twilio_support import FALLBACK, LINE_NUMBER, Twilio, twilio_env

OFFICER = "+447700900301"
OTHER = "+447700900302"
POLICY = RoutingPolicy()
ACTOR = Actor("test")
_sids = itertools.count(1)


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url)


def text(twilio: Twilio, body: str, sender: str = OFFICER, sid: str | None = None) -> str:
    response = twilio.post(
        "/twilio/sms",
        {
            "MessageSid": sid or f"SM{next(_sids):032x}",
            "From": sender,
            "To": LINE_NUMBER,
            "Body": body,
        },
    )
    assert response.status_code == 200
    return " ".join(response.get_data(as_text=True).split("<Message>")[1:]).split("</Message>")[0]


def requests(session: Session) -> list[AdviceRequest]:
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    return list(session.scalars(select(AdviceRequest).order_by(AdviceRequest.id)))


def test_a_first_message_opens_a_request_and_is_answered_with_its_reference(
    twilio: Twilio, session: Session
) -> None:
    reply = text(twilio, "Man on bridge parapet, distressed, Albert Bridge")
    (request,) = requests(session)
    assert request.channel == Channel.SMS
    assert request.status == RequestStatus.QUEUED
    assert request.caller_number == OFFICER
    assert request.reference in reply
    assert RISK_ADVICE in reply


def test_a_second_message_is_added_to_the_open_request(twilio: Twilio, session: Session) -> None:
    text(twilio, "Man on bridge")
    reply = text(twilio, "He has climbed back, now calmer")
    (request,) = requests(session)
    assert f"Added to {request.reference}" in reply
    bodies = session.scalars(
        select(Message.body).where(Message.request_id == request.id).order_by(Message.id)
    ).all()
    assert bodies == ["Man on bridge", "He has climbed back, now calmer"]


def test_whatsapp_messages_open_whatsapp_requests(twilio: Twilio, session: Session) -> None:
    reply = text(twilio, "Woman in crisis at station", sender=f"whatsapp:{OFFICER}")
    (request,) = requests(session)
    assert request.channel == Channel.WHATSAPP
    assert request.caller_number == OFFICER
    assert request.reference in reply


def test_a_retried_message_is_stored_once_and_answered_the_same(
    twilio: Twilio, session: Session
) -> None:
    first = text(twilio, "Man on bridge", sid="SM" + "e" * 32)
    again = text(twilio, "Man on bridge", sid="SM" + "e" * 32)
    assert first == again
    assert session.scalar(select(func.count(Message.id))) == 1
    assert len(requests(session)) == 1


@pytest.mark.parametrize("body", ["", "   \n  "])
def test_an_empty_message_gets_help_and_stores_nothing(
    twilio: Twilio, session: Session, body: str
) -> None:
    reply = text(twilio, body)
    assert "send a short description" in reply
    assert requests(session) == []
    assert session.scalar(select(func.count(Message.id))) == 0


def test_missing_parameters_are_refused(twilio: Twilio, session: Session) -> None:
    response = twilio.post("/twilio/sms", {"From": OFFICER, "Body": "hello"})
    assert response.status_code == 400
    assert requests(session) == []


def test_a_failing_database_still_tells_the_officer_what_to_do(
    twilio: Twilio, monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(messages, "receive_message", broken)
    reply = text(twilio, "Man on bridge parapet")
    assert "your message is received" in reply, "kept in the spool (tests/test_spool.py)"
    assert FALLBACK in reply
    assert RISK_ADVICE in reply
    assert requests(session) == []


def _closed_request(session: Session, twilio: Twilio) -> AdviceRequest:
    text(twilio, "Man on bridge")
    (request,) = requests(session)
    clinician = add_clinician(session)
    now = datetime.now(UTC)
    lifecycle.accept(session, request.id, clinician.id, now=now, actor=ACTOR, policy=POLICY)
    lifecycle.connect(session, request.id, now=now, actor=ACTOR)
    lifecycle.end_call(session, request.id, now=now, actor=ACTOR)
    lifecycle.complete_record(
        session, request.id, clinician.id, complete_input(), now=now, actor=ACTOR, policy=POLICY
    )
    session.commit()
    return request


@pytest.mark.parametrize(
    ("words", "decision"),
    [("DETAINED", OfficerDecision.DETAINED), ("not detained", OfficerDecision.NOT_DETAINED)],
)
def test_the_officer_reports_the_decision_by_reference(
    twilio: Twilio, session: Session, words: str, decision: OfficerDecision
) -> None:
    request = _closed_request(session, twilio)
    reply = text(twilio, f"{request.reference} {words}")
    assert f"Recorded for {request.reference}" in reply
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    record = session.scalars(select(AdviceRecord)).one()
    assert session.scalars(select(Detention.decision)).one() == decision
    assert record.outcome is not None, "the advice stays as given"
    assert len(requests(session)) == 1, "a decision does not open a new request"


def test_a_decision_before_the_record_is_kept_apart_from_the_advice(
    twilio: Twilio, session: Session
) -> None:
    text(twilio, "Man on bridge")
    (request,) = requests(session)
    reply = text(twilio, f"{request.reference} DETAINED")
    assert f"Recorded for {request.reference}: detained" in reply
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    assert session.scalars(select(Detention.decision)).one() == OfficerDecision.DETAINED
    assert session.scalars(select(AdviceRecord)).all() == [], "no advice was recorded"


@pytest.mark.parametrize("words", ["MAYBE", "", "detained?? not sure"])
def test_unrecognised_replies_get_a_helpful_answer(
    twilio: Twilio, session: Session, words: str
) -> None:
    request = _closed_request(session, twilio)
    reply = text(twilio, f"{request.reference} {words}")
    assert f"reply '{request.reference} DETAINED' or '{request.reference} NOT DETAINED'" in reply
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    assert session.scalars(select(Detention)).all() == []


def test_nobody_can_report_on_someone_elses_request(twilio: Twilio, session: Session) -> None:
    request = _closed_request(session, twilio)
    reply = text(twilio, f"{request.reference} DETAINED", sender=OTHER)
    assert "not one of your requests" in reply
    unknown = text(twilio, "AL-99999 DETAINED", sender=OTHER)
    assert "not one of your requests" in unknown
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    assert session.scalars(select(Detention)).all() == []


def _accepted_message_request(
    session: Session, twilio: Twilio, sender: str = OFFICER
) -> tuple[AdviceRequest, int]:
    text(twilio, "Man on bridge", sender=sender)
    (request,) = requests(session)
    clinician = add_clinician(session)
    lifecycle.accept(
        session, request.id, clinician.id, now=datetime.now(UTC), actor=ACTOR, policy=POLICY
    )
    session.commit()
    return request, clinician.id


@pytest.mark.parametrize("sender", [OFFICER, f"whatsapp:{OFFICER}"])
def test_the_clinician_replies_by_message_through_twilio(
    app: Flask, twilio: Twilio, session: Session, fake_twilio: FakeTwilio, sender: str
) -> None:
    request, clinician_id = _accepted_message_request(session, twilio, sender)
    assert fake_twilio.calls() == [], "a console acceptance of a message request rings nobody"
    message = replies.reply_to_officer(
        session,
        request.id,
        clinician_id,
        "Can you tell me his name?",
        now=datetime.now(UTC),
        actor=ACTOR,
    )
    message_id = message.id
    assert fake_twilio.messages() == [], "nothing is sent before the reply is stored"
    session.commit()
    (sent,) = fake_twilio.messages()
    assert sent.form["To"] == sender
    assert sent.form["From"] == (f"whatsapp:{LINE_NUMBER}" if "whatsapp" in sender else LINE_NUMBER)
    assert sent.form["Body"] == "Can you tell me his name?"
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    stored = session.get_one(Message, message_id)
    assert (stored.direction, stored.delivery, stored.message_sid) == (
        MessageDirection.OUTBOUND,
        "sent",
        sent.sid,
    )
    status = twilio.post(
        "/twilio/sms/status", {"MessageSid": sent.sid, "MessageStatus": "delivered"}
    )
    assert status.status_code == 204
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    assert session.get_one(Message, message_id).delivery == "delivered"


def test_a_reply_twilio_refuses_is_kept_with_the_error(
    app: Flask, twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    request, clinician_id = _accepted_message_request(session, twilio)
    request.caller_number = INVALID_NUMBER
    session.commit()
    message = replies.reply_to_officer(
        session, request.id, clinician_id, "Hello", now=datetime.now(UTC), actor=ACTOR
    )
    message_id = message.id
    session.commit()
    session.rollback()  # end this session's snapshot: the job wrote on its own connection
    stored = session.get_one(Message, message_id)
    assert stored.delivery == "failed"
    assert "not valid" in (stored.error or "")
    assert session.get_one(AdviceRequest, request.id).status == RequestStatus.ACCEPTED


def test_bad_replies_are_refused(twilio: Twilio, session: Session) -> None:
    request, clinician_id = _accepted_message_request(session, twilio)
    with pytest.raises(InvalidInput):
        replies.reply_to_officer(
            session, request.id, clinician_id, " ", now=datetime.now(UTC), actor=ACTOR
        )
    with pytest.raises(InvalidInput):
        replies.reply_to_officer(
            session, request.id, clinician_id, "x" * 1601, now=datetime.now(UTC), actor=ACTOR
        )
    stranger = add_clinician(session)
    with pytest.raises(IllegalTransition):
        replies.reply_to_officer(
            session, request.id, stranger.id, "Hi", now=datetime.now(UTC), actor=ACTOR
        )
    session.rollback()
    assert (
        session.scalar(
            select(func.count(Message.id)).where(Message.direction == MessageDirection.OUTBOUND)
        )
        == 0
    )
