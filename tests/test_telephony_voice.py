"""Officers phone the line: signatures, intake, waiting, clinician legs and status callbacks."""

from __future__ import annotations

import itertools
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.demo import DEMO_PASSWORD
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRequest,
    AuditEvent,
    CallLeg,
    CallStatus,
    Channel,
    Clinician,
    ClinicianStatus,
    Offer,
    OfferOutcome,
    Officer,
    OfficerPhone,
    Priority,
    RequestStatus,
    Role,
    Task,
    TaskKind,
)
from advice_line.routing.engine import dispatch
from advice_line.telephony import call_back, intake
from advice_line.telephony.twiml import RISK_ADVICE
from tests.builders import add_clinician
from tests.fake_twilio import INVALID_NUMBER, FakeTwilio
from tests.test_console import connect, csrf, sign_in
from tests.test_telephony_messages import text
from tests.twilio_support import (
    ACCOUNT,
    FALLBACK,
    LINE_NUMBER,
    PUBLIC,
    Twilio,
    attribute,
    gather_action,
    signature,
    spoken,
    text_of,
    twilio_env,
)
from tests.twiml_check import twiml_errors

OFFICER_NUMBER = "+447700900201"
UNKNOWN_NUMBER = "+447700900999"
POLICY = RoutingPolicy()
_sids = itertools.count(1)


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url)


@pytest.fixture
def officer(session: Session) -> Officer:
    officer = Officer(
        force="Metropolitan Police Service",
        collar_number="MP1234",
        name="PC Jo Smith",
        created_at=datetime.now(UTC),
        phones=[OfficerPhone(number=OFFICER_NUMBER, verified_at=datetime.now(UTC))],
    )
    session.add(officer)
    session.commit()
    return officer


def call_sid() -> str:
    return f"CA{next(_sids):032x}"


def incoming(twilio: Twilio, caller: str, sid: str) -> ET.Element:
    return twilio.twiml(
        "/twilio/voice",
        {"CallSid": sid, "From": caller, "To": LINE_NUMBER, "AccountSid": ACCOUNT},
    )


def answer(
    twilio: Twilio, document: ET.Element, sid: str, digits: str = "", speech: str = ""
) -> ET.Element:
    params = {"CallSid": sid, "AccountSid": ACCOUNT, "Digits": digits}
    if speech:
        params["SpeechResult"] = speech
    return twilio.twiml(gather_action(document), params)


def only_request(session: Session) -> AdviceRequest:
    session.expire_all()
    return session.scalars(select(AdviceRequest)).one()


def known_officer_call(twilio: Twilio, sid: str, *, risk: str = "2") -> ET.Element:
    """A registered officer answers every question; return the conference TwiML."""
    document = incoming(twilio, OFFICER_NUMBER, sid)
    document = answer(twilio, document, sid, digits=risk)
    document = answer(twilio, document, sid, speech="no he's an adult")
    return answer(twilio, document, sid, digits="2")


# --- signatures -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/voice/status", "/twilio/sms"])
def test_unsigned_or_tampered_requests_are_refused_and_store_nothing(
    twilio: Twilio, session: Session, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    params = {
        "CallSid": call_sid(),
        "MessageSid": "SM" + "1" * 32,
        "From": OFFICER_NUMBER,
        "Body": "help",
        "CallStatus": "completed",
    }
    assert twilio.post(path, params, sign=False).status_code == 403
    signed = twilio.client.post(
        path,
        data={**params, "From": UNKNOWN_NUMBER},
        headers={"X-Twilio-Signature": signature(PUBLIC + path, params)},
    )
    assert signed.status_code == 403
    wrong_host = twilio.client.post(
        path, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    )
    assert wrong_host.status_code == 403
    assert session.scalar(select(func.count(AdviceRequest.id))) == 0
    assert session.scalar(select(func.count(AuditEvent.id))) == 0
    assert "refused unsigned or tampered" in caplog.text


# --- intake ---------------------------------------------------------------------------


def test_a_registered_officer_is_recognised_and_asked_only_the_key_questions(
    twilio: Twilio, session: Session, officer: Officer
) -> None:
    sid = call_sid()
    document = incoming(twilio, OFFICER_NUMBER, sid)
    assert "Hello PC Jo Smith" in spoken(document)
    assert "risk to life" in spoken(document)
    document = answer(twilio, document, sid, digits="1")
    assert "under 18" in spoken(document)
    document = answer(twilio, document, sid, speech="No, an adult")
    assert "private home" in spoken(document)
    document = answer(twilio, document, sid, digits="2")
    request = only_request(session)
    assert text_of(document, "Dial/Conference") == request.reference
    assert attribute(document, "Dial/Conference", "startConferenceOnEnter") == "false"
    assert request.status == RequestStatus.QUEUED
    assert request.officer_id == officer.id
    assert request.officer_verified is True
    assert (request.risk_to_life, request.subject_under_18, request.in_dwelling) == (
        True,
        False,
        False,
    )
    assert request.priority == Priority.RISK_TO_LIFE


def test_an_unknown_caller_gives_collar_and_force_and_is_served_unverified(
    twilio: Twilio, session: Session, officer: Officer
) -> None:
    sid = call_sid()
    document = incoming(twilio, UNKNOWN_NUMBER, sid)
    assert "collar number" in spoken(document)
    document = answer(twilio, document, sid, speech="M P 1 2 3 4")
    assert "Which force" in spoken(document)
    document = answer(twilio, document, sid, speech="I'm with the Met")
    document = answer(twilio, document, sid, digits="2")
    document = answer(twilio, document, sid, digits="1")
    document = answer(twilio, document, sid, digits="2")
    assert document.find("Dial/Conference") is not None
    request = only_request(session)
    assert request.officer_verified is False
    assert (request.claimed_collar_number, request.claimed_force) == (
        "MP1234",
        "Metropolitan Police Service",
    )
    assert request.officer_id == officer.id, "matched in the directory, still unverified"
    assert request.subject_under_18 is True
    assert request.skills_needed == ["camhs"]
    assert request.priority == Priority.UNDER_18


def test_silence_and_nonsense_reprompt_then_carry_on_with_safe_defaults(
    twilio: Twilio, session: Session
) -> None:
    sid = call_sid()
    document = incoming(twilio, UNKNOWN_NUMBER, sid)
    for _ in range(5):  # collar, force, risk, under 18, dwelling: each unanswered twice
        first_prompt = spoken(document)
        document = answer(twilio, document, sid)
        assert "Sorry, I didn't get that." in spoken(document)
        assert first_prompt.split(".")[-2] in spoken(document)
        document = answer(twilio, document, sid, digits="7", speech="banana")
        assert document.find("Hangup") is None
    assert document.find("Dial/Conference") is not None
    request = only_request(session)
    assert request.status == RequestStatus.QUEUED
    assert request.risk_to_life is None, "silence is no answer, never a guessed yes"
    assert request.priority == Priority.RISK_TO_LIFE, "unanswered risk must not lower priority"
    assert request.subject_under_18 is None
    assert request.in_dwelling is None
    assert request.officer_verified is False


def test_a_retried_incoming_call_webhook_opens_one_request(
    twilio: Twilio, session: Session, officer: Officer
) -> None:
    sid = call_sid()
    incoming(twilio, OFFICER_NUMBER, sid)
    incoming(twilio, OFFICER_NUMBER, sid)
    assert session.scalar(select(func.count(AdviceRequest.id))) == 1


# --- waiting --------------------------------------------------------------------------


def test_waiting_officers_hear_their_place_and_later_are_offered_a_call_back(
    twilio: Twilio, session: Session, officer: Officer, app: Flask
) -> None:
    first, second = call_sid(), call_sid()
    document = incoming(twilio, UNKNOWN_NUMBER, first)  # another caller, who answers all
    for digits in ("4321", "1", "2", "2", "2"):
        document = answer(twilio, document, first, digits=digits)
    document = known_officer_call(twilio, second)
    wait_url = attribute(document, "Dial/Conference", "waitUrl")
    held = twilio.twiml(wait_url, {"CallSid": second})
    assert "You are number 2 in the queue." in spoken(held)
    # No answers in the last hour: no figure, only what is true.
    assert "A clinician will answer as soon as one is free." in spoken(held)
    assert "called back" not in spoken(held)
    assert text_of(held, "Redirect") == wait_url
    app.config["CALL_BACK_OFFER_AFTER_SECONDS"] = 0
    held = twilio.twiml(wait_url, {"CallSid": second})
    assert "press star, then 1" in spoken(held)
    assert RISK_ADVICE in spoken(held)


def test_pressing_star_then_1_books_a_call_back_and_keeps_the_place(
    twilio: Twilio, session: Session, officer: Officer
) -> None:
    sid = call_sid()
    document = known_officer_call(twilio, sid)
    assert attribute(document, "Dial", "hangupOnStar") == "true"
    choice = twilio.twiml(
        attribute(document, "Dial", "action"), {"CallSid": sid, "DialCallStatus": "completed"}
    )
    assert "Press 1 to be called back" in spoken(choice)
    booked = twilio.twiml(gather_action(choice), {"CallSid": sid, "Digits": "1"})
    assert booked.find("Hangup") is not None
    assert RISK_ADVICE in spoken(booked)
    request = only_request(session)
    assert request.call_back_requested_at is not None
    twilio.post("/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed"})
    request = only_request(session)
    assert request.status == RequestStatus.QUEUED, "a booked call-back is not an abandonment"


def test_declining_the_call_back_returns_to_the_conference(
    twilio: Twilio, session: Session, officer: Officer
) -> None:
    sid = call_sid()
    document = known_officer_call(twilio, sid)
    choice = twilio.twiml(attribute(document, "Dial", "action"), {"CallSid": sid})
    back = twilio.twiml(gather_action(choice), {"CallSid": sid, "Digits": "2"})
    assert back.find("Dial/Conference") is not None
    assert only_request(session).call_back_requested_at is None


# --- clinician legs -------------------------------------------------------------------


def accepted_at_a_console(session: Session) -> tuple[AdviceRequest, Clinician]:
    """A clinician at a console takes the only request."""
    clinician = add_clinician(session)
    request = only_request(session)
    lifecycle.accept(
        session, request.id, clinician.id, now=datetime.now(UTC), actor=Actor("test"), policy=POLICY
    )
    session.commit()
    return request, clinician


def route(session: Session) -> list[Offer]:
    offers = dispatch(session, now=datetime.now(UTC), policy=POLICY, actor=Actor("test"))
    session.commit()
    return offers


def phone_clinician(session: Session, *, phone: str | None = None) -> int:
    clinician = add_clinician(session, on_console=False, shift_around=datetime.now(UTC))
    if phone:
        clinician.phone = phone
    session.commit()
    return clinician.id


def test_an_on_call_clinician_is_rung_with_a_whisper_and_presses_1_to_join(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    officer_sid = call_sid()
    known_officer_call(twilio, officer_sid, risk="1")
    clinician_id = phone_clinician(session)
    (offer,) = route(session)
    (placed,) = fake_twilio.calls()
    assert placed.form["Url"].endswith(f"/twilio/voice/whisper/{offer.id}")
    assert placed.form["StatusCallback"] == "https://line.example.test/twilio/voice/status"
    assert placed.form["From"] == LINE_NUMBER
    whisper = twilio.twiml(placed.form["Url"], {"CallSid": placed.sid})
    assert "PC Jo Smith" in spoken(whisper)
    assert "Risk to life." in spoken(whisper)
    joined = answer(twilio, whisper, placed.sid, digits="1")
    request = only_request(session)
    assert text_of(joined, "Dial/Conference") == request.reference
    assert attribute(joined, "Dial/Conference", "startConferenceOnEnter") == "true"
    assert request.status == RequestStatus.CONNECTED
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == placed.sid)).one()
    assert (leg.clinician_id, leg.joined_at is not None) == (clinician_id, True)


@pytest.mark.parametrize("how", ["key 2", "no answer", "busy", "failed"])
def test_anything_but_1_or_no_answer_declines_and_the_request_moves_on(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio, how: str
) -> None:
    known_officer_call(twilio, call_sid())
    phone_clinician(session)
    (offer,) = route(session)
    (placed,) = fake_twilio.calls()
    if how == "key 2":
        whisper = twilio.twiml(placed.form["Url"], {"CallSid": placed.sid})
        answer(twilio, whisper, placed.sid, digits="2")
    else:
        twilio.post(
            "/twilio/voice/status",
            {"CallSid": placed.sid, "CallStatus": how.replace(" ", "-"), "SequenceNumber": "2"},
        )
    session.expire_all()
    assert session.get_one(Offer, offer.id).outcome == OfferOutcome.DECLINED
    assert only_request(session).status == RequestStatus.QUEUED
    second = phone_clinician(session)
    (next_offer,) = route(session)
    assert next_offer.clinician_id == second


@pytest.mark.parametrize(("status", "code"), [(400, 21211), (403, 20003)])
def test_twilio_refusing_the_whisper_call_passes_the_request_on(
    twilio: Twilio,
    session: Session,
    officer: Officer,
    fake_twilio: FakeTwilio,
    status: int,
    code: int,
) -> None:
    known_officer_call(twilio, call_sid())
    phone_clinician(session)
    fake_twilio.fail_next(status, code)
    (offer,) = route(session)
    session.expire_all()
    assert fake_twilio.refused[0][1]["code"] == code
    assert session.get_one(Offer, offer.id).outcome == OfferOutcome.DECLINED
    assert only_request(session).status == RequestStatus.QUEUED


def test_a_clinician_with_an_invalid_number_never_loses_the_request(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    phone_clinician(session, phone=INVALID_NUMBER)
    (offer,) = route(session)
    assert fake_twilio.refused[0][1]["code"] == 21211
    session.expire_all()
    assert session.get_one(Offer, offer.id).outcome == OfferOutcome.DECLINED
    assert only_request(session).status == RequestStatus.QUEUED


def test_accepting_at_the_console_rings_the_clinicians_phone_into_the_conference(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    request, clinician = accepted_at_a_console(session)
    (placed,) = fake_twilio.calls()
    assert placed.form["To"] == clinician.phone
    assert placed.form["Url"].endswith(f"/twilio/voice/clinician/{request.id}")
    joined = twilio.twiml(placed.form["Url"], {"CallSid": placed.sid})
    assert text_of(joined, "Dial/Conference") == request.reference
    assert only_request(session).status == RequestStatus.CONNECTED


def test_a_console_acceptance_whose_phone_call_fails_requeues_the_request(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    clinician = add_clinician(session)
    request = only_request(session)
    fake_twilio.fail_next(400, 21211)  # a refusal; errors worth retrying are retried
    lifecycle.accept(
        session,
        request.id,
        clinician.id,
        now=datetime.now(UTC),
        actor=Actor("test"),
        policy=POLICY,
    )
    session.commit()
    assert only_request(session).status == RequestStatus.QUEUED


# --- status callbacks -----------------------------------------------------------------


def test_hanging_up_while_waiting_abandons_with_a_call_back_task(
    twilio: Twilio, session: Session, officer: Officer
) -> None:
    sid = call_sid()
    known_officer_call(twilio, sid)
    response = twilio.post(
        "/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed", "SequenceNumber": "3"}
    )
    assert response.status_code == 204
    request = only_request(session)
    assert request.status == RequestStatus.ABANDONED
    task = session.scalars(select(Task)).one()
    assert task.kind == TaskKind.CALL_BACK


def test_bad_status_callbacks_are_refused(twilio: Twilio, session: Session) -> None:
    for params in (
        {"CallSid": call_sid(), "CallStatus": "exploded"},
        {"CallSid": call_sid(), "CallStatus": "completed", "SequenceNumber": "many"},
    ):
        assert twilio.post("/twilio/voice/status", params).status_code == 400
    unknown = twilio.post("/twilio/voice/status", {"CallSid": call_sid(), "CallStatus": "ringing"})
    assert unknown.status_code == 204


def _connected_call(twilio: Twilio, session: Session, fake_twilio: FakeTwilio) -> tuple[str, str]:
    officer_sid = call_sid()
    known_officer_call(twilio, officer_sid)
    phone_clinician(session)
    route(session)
    (placed,) = fake_twilio.calls()
    whisper = twilio.twiml(placed.form["Url"], {"CallSid": placed.sid})
    answer(twilio, whisper, placed.sid, digits="1")
    return officer_sid, placed.sid


def test_the_end_of_a_connected_call_puts_the_request_in_wrap_up(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    officer_sid, _ = _connected_call(twilio, session, fake_twilio)
    twilio.post("/twilio/voice/status", {"CallSid": officer_sid, "CallStatus": "completed"})
    request = only_request(session)
    assert request.status == RequestStatus.WRAP_UP
    clinician = session.scalars(select(Offer)).one().clinician
    assert clinician.status == ClinicianStatus.WRAP_UP


def _final_state(session: Session) -> tuple[object, ...]:
    session.expire_all()
    request = only_request(session)
    return (
        request.status,
        tuple(sorted((o.clinician_id, o.outcome) for o in session.scalars(select(Offer)))),
        tuple(sorted((t.kind, t.owner_user_id) for t in session.scalars(select(Task)))),
        tuple(sorted((leg.call_sid, leg.status) for leg in session.scalars(select(CallLeg)))),
        session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action.like("request.%"))
        ),
    )


@pytest.mark.parametrize("seed", range(4))
def test_callbacks_replayed_twice_in_any_order_give_the_same_final_state(
    app: Flask,
    twilio: Twilio,
    session: Session,
    officer: Officer,
    fake_twilio: FakeTwilio,
    seed: int,
) -> None:
    officer_sid, clinician_sid = _connected_call(twilio, session, fake_twilio)
    events = [
        (clinician_sid, "initiated", 0),
        (clinician_sid, "ringing", 1),
        (clinician_sid, "in-progress", 2),
        (officer_sid, "completed", 3),
        (clinician_sid, "completed", 3),
    ]
    in_order = [*events]
    for sid, status, sequence in in_order:
        twilio.post(
            "/twilio/voice/status",
            {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(sequence)},
        )
    expected = _final_state(session)
    assert expected[0] == RequestStatus.WRAP_UP
    replay = events * 2
    random.Random(seed).shuffle(replay)
    for sid, status, sequence in replay:
        twilio.post(
            "/twilio/voice/status",
            {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(sequence)},
        )
    assert _final_state(session) == expected


@pytest.mark.parametrize("seed", range(4))
def test_a_reordered_abandonment_is_applied_once(
    twilio: Twilio, session: Session, officer: Officer, seed: int
) -> None:
    sid = call_sid()
    known_officer_call(twilio, sid)
    events = [("ringing", 1), ("in-progress", 2), ("completed", 3)] * 2
    random.Random(seed).shuffle(events)
    for status, sequence in events:
        twilio.post(
            "/twilio/voice/status",
            {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(sequence)},
        )
    assert only_request(session).status == RequestStatus.ABANDONED
    assert session.scalar(select(func.count(Task.id))) == 1


# --- call-back ------------------------------------------------------------------------


def test_a_booked_call_back_rings_the_officer_into_the_conference_when_taken(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    sid = call_sid()
    document = known_officer_call(twilio, sid)
    choice = twilio.twiml(attribute(document, "Dial", "action"), {"CallSid": sid})
    twilio.twiml(gather_action(choice), {"CallSid": sid, "Digits": "1"})
    twilio.post("/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed"})
    request, clinician = accepted_at_a_console(session)
    targets = {c.form["To"]: c for c in fake_twilio.calls()}
    assert set(targets) == {OFFICER_NUMBER, clinician.phone}
    officer_leg = targets[OFFICER_NUMBER]
    assert officer_leg.form["Url"].endswith(f"/twilio/voice/officer/{request.id}")
    rejoined = twilio.twiml(officer_leg.form["Url"], {"CallSid": officer_leg.sid})
    assert "calling you back" in spoken(rejoined)
    assert text_of(rejoined, "Dial/Conference") == request.reference


# --- failure --------------------------------------------------------------------------


def test_a_failing_database_still_answers_with_fallback_twiml(
    twilio: Twilio, monkeypatch: pytest.MonkeyPatch, session: Session
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(intake, "open_voice_request", broken)
    document = incoming(twilio, OFFICER_NUMBER, call_sid())
    assert "cannot take your call right now" in spoken(document)
    assert text_of(document, "Dial") == FALLBACK
    assert RISK_ADVICE in spoken(document)


def test_an_unreachable_database_still_answers_with_fallback_twiml(
    fake_twilio: FakeTwilio, app_maker: object
) -> None:
    from advice_line import create_app
    from tests.conftest import demo_env

    broken = create_app(
        {"TESTING": True},
        env=demo_env(
            "sqlite:////nonexistent-directory/x.sqlite3", **twilio_env(fake_twilio.base_url)
        ),
    )
    twilio = Twilio(broken, broken.test_client())
    document = twilio.twiml(
        "/twilio/voice", {"CallSid": call_sid(), "From": OFFICER_NUMBER, "To": LINE_NUMBER}
    )
    assert "cannot take your call right now" in spoken(document)


def test_the_static_fallback_document_is_served(twilio: Twilio) -> None:
    response = twilio.client.get("/twilio/voice/fallback")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert twiml_errors(response.get_data(as_text=True)) == []
    assert FALLBACK in response.get_data(as_text=True)
    assert RISK_ADVICE in response.get_data(as_text=True)


def test_a_clinician_calls_back_an_officer_who_hung_up_on_the_same_request(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    sid = call_sid()
    known_officer_call(twilio, sid)
    twilio.post("/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed"})
    abandoned = only_request(session)
    assert abandoned.status == RequestStatus.ABANDONED
    clinician = add_clinician(session)
    called = call_back.call_officer_back(
        session,
        abandoned.id,
        clinician.id,
        now=datetime.now(UTC),
        actor=Actor("test"),
        policy=POLICY,
    )
    session.commit()
    assert called.id == abandoned.id
    assert session.scalar(select(func.count(AdviceRequest.id))) == 1
    session.refresh(called)
    assert called.status == RequestStatus.ACCEPTED
    assert called.officer_id == officer.id
    assert called.abandoned_at is not None
    targets = {c.form["To"]: c.form["Url"] for c in fake_twilio.calls()}
    assert targets == {
        OFFICER_NUMBER: f"{PUBLIC}/twilio/voice/officer/{called.id}",
        clinician.phone: f"{PUBLIC}/twilio/voice/clinician/{called.id}",
    }
    assert session.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "request.called_back")
    ).all() == ["request.called_back"]
    # A second press places no second call.
    with pytest.raises(IllegalTransition, match="already being called"):
        call_back.call_officer_back(
            session,
            abandoned.id,
            clinician.id,
            now=datetime.now(UTC),
            actor=Actor("test"),
            policy=POLICY,
        )
    session.rollback()
    assert len(fake_twilio.calls()) == 2


def test_calling_back_needs_a_number(session: Session, officer: Officer) -> None:
    request = lifecycle.create_request(
        session,
        lifecycle.NewRequest(channel=Channel.SMS),
        now=datetime.now(UTC),
        actor=Actor("test"),
    )
    clinician = add_clinician(session)
    with pytest.raises(InvalidInput):
        call_back.call_officer_back(
            session,
            request.id,
            clinician.id,
            now=datetime.now(UTC),
            actor=Actor("test"),
            policy=POLICY,
        )


def test_an_expired_whisper_offer_stops_the_clinicians_phone_ringing(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    phone_clinician(session)
    (offer,) = route(session)
    (placed,) = fake_twilio.calls()
    lifecycle.expire_offer(
        session, offer.id, now=offer.expires_at, actor=Actor("test"), policy=POLICY
    )
    session.commit()
    hang_ups = [r for r in fake_twilio.received if r.path.endswith(f"/Calls/{placed.sid}.json")]
    assert [r.form for r in hang_ups] == [{"Status": "completed"}]


# --- a withdrawn offer ----------------------------------------------------------------
#
# A phone-only clinician is being rung with a whisper when someone takes the request at
# a console; the take rescinds their offer and the line hangs up on them. Whatever order
# Twilio's reports of that call then arrive in (and twice), they close that leg alone.

ENDINGS = ["no-answer", "canceled", "busy", "completed"]
ORDERS = ["withdrawn leg first", "taker's leg first", "shuffled, seed 0", "shuffled, seed 1"]
Event = tuple[str, str, str, int]  # (kind, CallSid, status, sequence)


@dataclass(frozen=True)
class Withdrawn:
    """A request taken at a console while another clinician's phone rang with its offer."""

    request_id: int
    offer_id: int
    rung_id: int
    rung_sid: str
    taker: Clinician
    client: FlaskClient


def signed_in_clinician(
    app: Flask, session: Session, role: Role = Role.CLINICIAN
) -> tuple[Clinician, FlaskClient]:
    """A clinician with a console login (on no shift now, so never routed an offer)."""
    clinician = add_clinician(session, role=role)
    clinician.user.password_hash = generate_password_hash(DEMO_PASSWORD)
    session.commit()
    return clinician, sign_in(app, clinician.user.username)


def taken_while_ringing(
    app: Flask, session: Session, fake_twilio: FakeTwilio, *, at: str = "console"
) -> Withdrawn:
    """Ring a phone-only clinician with the only request, then take it: socket or floor."""
    rung_id = phone_clinician(session)
    (offer,) = route(session)
    (rung,) = fake_twilio.calls()
    request = only_request(session)
    taker, client = signed_in_clinician(
        app, session, Role.SENIOR_CLINICIAN if at == "floor" else Role.CLINICIAN
    )
    if at == "floor":
        token = csrf(client, "/console/floor")
        form = {"request_id": str(request.id), "intent": "take", "csrf_token": token}
        assert client.post("/console/floor", data=form).status_code == 302
    else:
        socket = connect(app, client)
        assert socket.emit("accept", {"request_id": request.id}, callback=True) == {"ok": True}
        socket.disconnect()
    session.expire_all()
    assert session.get_one(Offer, offer.id).outcome == OfferOutcome.RESCINDED
    hang_ups = [r.form for r in fake_twilio.received if r.path.endswith(f"/Calls/{rung.sid}.json")]
    assert hang_ups == [{"Status": "completed"}], "the line stops the withdrawn call ringing"
    return Withdrawn(request.id, offer.id, rung_id, rung.sid, taker, client)


def deliver(twilio: Twilio, withdrawn: Withdrawn, events: list[Event]) -> list[ET.Element]:
    """Send Twilio's reports in this order; return what the taker's phone was told."""
    heard = []
    for kind, sid, status, sequence in events:
        if kind == "status":
            params = {"CallSid": sid, "CallStatus": status, "SequenceNumber": str(sequence)}
            assert twilio.post("/twilio/voice/status", params).status_code == 204
        elif kind == "whisper 1":
            late = twilio.twiml(
                f"/twilio/voice/whisper/{withdrawn.offer_id}/answer",
                {"CallSid": sid, "Digits": "1"},
            )
            assert late.find("Dial") is None, "a withdrawn offer cannot be accepted"
        else:
            url = f"/twilio/voice/clinician/{withdrawn.request_id}"
            heard.append(twilio.twiml(url, {"CallSid": sid}))
    return heard


def arranged(order: str, withdrawn: list[Event], taker: list[Event]) -> list[Event]:
    """The reports in the order named, each sent twice."""
    if order.startswith("shuffled"):
        events = (withdrawn + taker) * 2
        random.Random(int(order.rsplit(" ", 1)[1])).shuffle(events)
        return events
    first, second = (withdrawn, taker) if order == "withdrawn leg first" else (taker, withdrawn)
    return (first + second) * 2


def withdrawn_leg_reports(withdrawn: Withdrawn, ending: str) -> list[Event]:
    sid = withdrawn.rung_sid
    return [
        ("status", sid, "initiated", 0),
        ("status", sid, "ringing", 1),
        ("status", sid, ending, 2),
        ("whisper 1", sid, "", 0),
    ]


def assert_only_the_withdrawn_leg_ended(
    session: Session, withdrawn: Withdrawn, ending: str
) -> AdviceRequest:
    """The withdrawn leg is closed; offer, rung clinician and taker's request are as they were."""
    session.expire_all()
    request = session.get_one(AdviceRequest, withdrawn.request_id)
    assert request.status == RequestStatus.CONNECTED
    offers = {(o.clinician_id, o.outcome) for o in session.scalars(select(Offer))}
    assert offers == {
        (withdrawn.rung_id, OfferOutcome.RESCINDED),
        (withdrawn.taker.id, OfferOutcome.ACCEPTED),
    }
    rung = session.get_one(Clinician, withdrawn.rung_id)
    assert (rung.status, rung.missed_offers_in_row) == (ClinicianStatus.AVAILABLE, 0)
    taker = session.get_one(Clinician, withdrawn.taker.id)
    assert (taker.status, taker.missed_offers_in_row) == (ClinicianStatus.ON_CALL, 0)
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == withdrawn.rung_sid)).one()
    assert (leg.status, leg.ended_at is not None) == (CallStatus(ending), True)
    actions = set(
        session.scalars(select(AuditEvent.action).where(AuditEvent.request_id == request.id))
    )
    assert not actions & {"request.requeued", "request.call_ended", "offer.failed"}
    assert "offer.declined" not in actions
    return request


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("ending", ENDINGS)
def test_the_end_of_a_withdrawn_call_leaves_the_takers_voice_request_alone(
    app: Flask,
    twilio: Twilio,
    session: Session,
    officer: Officer,
    fake_twilio: FakeTwilio,
    ending: str,
    order: str,
) -> None:
    officer_sid = call_sid()
    known_officer_call(twilio, officer_sid)
    withdrawn = taken_while_ringing(app, session, fake_twilio)
    calls = fake_twilio.calls()
    assert [c.form["To"] for c in calls][1:] == [withdrawn.taker.phone]
    taker_sid = calls[1].sid
    taker_leg: list[Event] = [
        ("status", taker_sid, "initiated", 0),
        ("status", taker_sid, "ringing", 1),
        ("answer", taker_sid, "", 0),
        ("status", taker_sid, "in-progress", 2),
    ]
    events = arranged(order, withdrawn_leg_reports(withdrawn, ending), taker_leg)
    heard = deliver(twilio, withdrawn, events)
    request = assert_only_the_withdrawn_leg_ended(session, withdrawn, ending)
    assert heard, "the taker's phone answered"
    for document in heard:
        assert text_of(document, "Dial/Conference") == request.reference, spoken(document)
    legs = {leg.call_sid: leg for leg in session.scalars(select(CallLeg))}
    assert legs[officer_sid].status == CallStatus.IN_PROGRESS, "the officer is still there"
    assert legs[taker_sid].status == CallStatus.IN_PROGRESS
    assert legs[taker_sid].joined_at is not None
    assert len(fake_twilio.calls()) == 2, "nobody else is rung"


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_withdrawn_call_ending_after_a_floor_take_leaves_the_request_with_the_senior(
    app: Flask,
    twilio: Twilio,
    session: Session,
    officer: Officer,
    fake_twilio: FakeTwilio,
    ending: str,
) -> None:
    known_officer_call(twilio, call_sid())
    withdrawn = taken_while_ringing(app, session, fake_twilio, at="floor")
    taker_sid = fake_twilio.calls()[1].sid
    taker_leg: list[Event] = [("status", taker_sid, "ringing", 1), ("answer", taker_sid, "", 0)]
    events = arranged("shuffled, seed 2", withdrawn_leg_reports(withdrawn, ending), taker_leg)
    heard = deliver(twilio, withdrawn, events)
    request = assert_only_the_withdrawn_leg_ended(session, withdrawn, ending)
    assert {text_of(document, "Dial/Conference") for document in heard} == {request.reference}


@pytest.mark.parametrize("order", ["in order", "shuffled, seed 0", "shuffled, seed 1"])
@pytest.mark.parametrize("ending", ENDINGS)
def test_the_end_of_a_withdrawn_call_leaves_the_takers_text_thread_open(
    app: Flask,
    twilio: Twilio,
    session: Session,
    fake_twilio: FakeTwilio,
    ending: str,
    order: str,
) -> None:
    text(twilio, "Man on the bridge, distressed")
    withdrawn = taken_while_ringing(app, session, fake_twilio)
    events = arranged(
        "withdrawn leg first" if order == "in order" else order,
        withdrawn_leg_reports(withdrawn, ending),
        [],
    )
    deliver(twilio, withdrawn, events)
    request = assert_only_the_withdrawn_leg_ended(session, withdrawn, ending)
    page = withdrawn.client.get(f"/console/requests/{request.id}").get_data(as_text=True)
    assert "Send message" in page, "the reply box is still there"
    assert len(fake_twilio.calls()) == 1, "nobody else is rung"


def test_a_late_1_on_a_withdrawn_whisper_takes_nothing(
    twilio: Twilio, session: Session, officer: Officer, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    rung_id = phone_clinician(session)
    (offer,) = route(session)
    (placed,) = fake_twilio.calls()
    whisper = twilio.twiml(placed.form["Url"], {"CallSid": placed.sid})
    other = add_clinician(session)
    lifecycle.reassign(
        session,
        offer.request_id,
        other.id,
        now=datetime.now(UTC),
        actor=Actor("test"),
        policy=POLICY,
    )
    session.commit()
    late = answer(twilio, whisper, placed.sid, digits="1")
    assert late.find("Dial") is None, spoken(late)
    session.expire_all()
    offers = {(o.clinician_id, o.outcome) for o in session.scalars(select(Offer))}
    assert offers == {(rung_id, OfferOutcome.RESCINDED), (other.id, None)}
    assert only_request(session).status == RequestStatus.OFFERED
