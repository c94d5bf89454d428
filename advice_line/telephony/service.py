"""Telephony in the domain's words: intake answers, call legs, messages (no Flask, no HTTP).

The webhooks turn Twilio's parameters into calls on these functions; these turn them into
lifecycle steps. Like the lifecycle, they flush and never commit.
"""

from __future__ import annotations

import enum
import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import DomainError, IllegalTransition, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    ENDED_CALL_STATUSES,
    AdviceRequest,
    CallLeg,
    CallStatus,
    Channel,
    LegRole,
    Message,
    MessageDirection,
    Offer,
    OfficerDecision,
    OfficerPhone,
    RequestStatus,
)
from advice_line.models.officer import Officer
from advice_line.phones import normalise
from advice_line.routing.views import queue_position

TERMINAL = frozenset({RequestStatus.CLOSED, RequestStatus.ABANDONED, RequestStatus.CANCELLED})
MAX_ATTEMPTS = 2
OTHER_FORCE = "Other force"
MESSAGE_LIMIT = 1600
RISK_ADVICE = "If there is an immediate risk to life, act under your own powers and call 999."


class Step(enum.StrEnum):
    """The intake questions, in the order they are asked."""

    COLLAR = "collar"
    FORCE = "force"
    RISK = "risk"
    UNDER_18 = "under18"
    DWELLING = "dwelling"


QUESTIONS = {
    Step.COLLAR: "Please key your collar number, then press hash. Or say it.",
    Step.RISK: "Is there an immediate risk to life? Press 1 for yes, 2 for no, or say yes or no.",
    Step.UNDER_18: "Is the person under 18? Press 1 for yes, 2 for no, 3 if you don't know.",
    Step.DWELLING: (
        "Are you in a private home, its garden or outbuildings? Press 1 for yes, 2 for no."
    ),
}
#: What intake assumes when an answer never comes: nothing that lowers priority.
SAFE_DEFAULTS: dict[Step, object] = {Step.RISK: True}


def caller_number(raw: str) -> str | None:
    """Return the E.164 number of a caller ID (``whatsapp:`` stripped), None if withheld."""
    try:
        return normalise(raw.removeprefix("whatsapp:"))
    except InvalidInput:
        return None


def identify_officer(session: Session, number: str | None) -> Officer | None:
    """Return the officer whose verified phone this is."""
    if number is None:
        return None
    return session.scalars(
        select(Officer).join(OfficerPhone).where(OfficerPhone.number == number)
    ).one_or_none()


def open_voice_request(
    session: Session, *, call_sid: str, caller: str, now: datetime, actor: Actor
) -> tuple[AdviceRequest, Officer | None]:
    """Open a request for an incoming call, once per CallSid (Twilio may retry)."""
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == call_sid)).one_or_none()
    if leg is not None:
        request = session.get_one(AdviceRequest, leg.request_id)
        return request, request.officer if request.officer_verified else None
    number = caller_number(caller)
    officer = identify_officer(session, number)
    request = lifecycle.create_request(
        session,
        lifecycle.NewRequest(
            channel=Channel.VOICE,
            officer_id=officer.id if officer else None,
            officer_verified=officer is not None,
            caller_number=number or caller[:40],
        ),
        now=now,
        actor=actor,
    )
    session.add(
        CallLeg(
            call_sid=call_sid,
            request_id=request.id,
            role=LegRole.OFFICER,
            number=number or caller[:40],
            status=CallStatus.IN_PROGRESS,
            created_at=now,
        )
    )
    session.flush()
    return request, officer


def steps_for(request: AdviceRequest) -> list[Step]:
    """The questions this caller is asked: a known officer skips collar and force."""
    questions = list(Step)
    if request.officer_verified:
        questions = questions[2:]
    return questions


def _yes_no(digits: str, speech: str, *, unknown_key: str | None = None) -> bool | str | None:
    if digits == "1" or re.search(r"\b(yes|yeah|yep|correct)\b", speech):
        return True
    if digits == "2" or re.search(r"\b(no|nope|not)\b", speech):
        return False
    if unknown_key and (digits == unknown_key or re.search(r"\b(don'?t|not sure)\b", speech)):
        return "unknown"
    return None


def _force(digits: str, speech: str, forces: tuple[str, ...]) -> str | None:
    if digits == "9":
        return OTHER_FORCE
    if digits.isdigit() and 1 <= int(digits) <= len(forces):
        return forces[int(digits) - 1]
    spoken = set(re.findall(r"[a-z]+", speech))
    for force in forces:
        words = set(re.findall(r"[a-z]+", force.lower())) - {"police", "service", "of", "the"}
        if "metropolitan" in words:
            words.add("met")
        if words & spoken:
            return force
    return None


def _collar(digits: str, speech: str) -> str | None:
    text = digits or re.sub(r"[^A-Za-z0-9]", "", speech).upper()
    if 2 <= len(text) <= 10 and any(c.isdigit() for c in text):
        return text
    return None


@dataclass(frozen=True)
class Heard:
    """What the officer answered at one step (keypad digits and/or recognised speech)."""

    digits: str = ""
    speech: str = ""


def interpret(step: Step, heard: Heard, forces: tuple[str, ...]) -> object | None:
    """Return the answer, or None when nothing usable was heard."""
    speech = heard.speech.lower().strip()
    if step == Step.COLLAR:
        return _collar(heard.digits, heard.speech)
    if step == Step.FORCE:
        return _force(heard.digits, speech, forces)
    return _yes_no(heard.digits, speech, unknown_key="3" if step == Step.UNDER_18 else None)


def record_step(
    session: Session,
    request: AdviceRequest,
    step: Step,
    answer: object | None,
    *,
    now: datetime,
    actor: Actor,
) -> None:
    """Store one intake answer (``None`` or "unknown" leaves the field unknown)."""
    if answer is None or answer == "unknown":
        return
    answers: lifecycle.IntakeAnswers
    if step == Step.COLLAR:
        answers = lifecycle.IntakeAnswers(claimed_collar_number=str(answer))
    elif step == Step.FORCE:
        known = session.scalars(
            select(Officer.id).where(
                Officer.force == answer, Officer.collar_number == request.claimed_collar_number
            )
        ).one_or_none()
        answers = lifecycle.IntakeAnswers(claimed_force=str(answer), officer_id=known)
    else:
        answers = {
            Step.RISK: lifecycle.IntakeAnswers(risk_to_life=bool(answer)),
            Step.UNDER_18: lifecycle.IntakeAnswers(subject_under_18=bool(answer)),
            Step.DWELLING: lifecycle.IntakeAnswers(in_dwelling=bool(answer)),
        }[step]
    lifecycle.record_intake(session, request.id, answers, now=now, actor=actor)


def expected_wait(session: Session, position: int, policy: RoutingPolicy) -> timedelta:
    """Estimate the wait from the last 20 answered requests (the answer target if none)."""
    recent = session.execute(
        select(AdviceRequest.waiting_since, AdviceRequest.accepted_at)
        .where(AdviceRequest.accepted_at.is_not(None), AdviceRequest.waiting_since.is_not(None))
        .order_by(AdviceRequest.accepted_at.desc())
        .limit(20)
    ).all()
    waits = [
        (accepted - waiting).total_seconds()
        for waiting, accepted in recent
        if waiting is not None and accepted is not None
    ]
    typical = statistics.median(waits) if waits else policy.answer_target.total_seconds()
    return timedelta(seconds=typical * position)


def spoken_wait(wait: timedelta) -> str:
    """Say a wait the way a person would."""
    minutes = round(wait.total_seconds() / 60)
    if minutes < 1:
        return "under a minute"
    return "about 1 minute" if minutes == 1 else f"about {minutes} minutes"


def hold_message(
    session: Session,
    request: AdviceRequest,
    *,
    now: datetime,
    policy: RoutingPolicy,
    call_back_after: timedelta,
) -> str:
    """What the waiting officer hears now: place, expected wait, and the call-back option."""
    if request.status not in lifecycle.WAITING:
        return "A clinician is joining you now."
    position = queue_position(session, request)
    wait = spoken_wait(expected_wait(session, position, policy))
    place = "next" if position == 1 else f"number {position} in the queue"
    message = f"You are {place}. The expected wait is {wait}."
    assert request.waiting_since is not None
    if now - request.waiting_since >= call_back_after:
        message += f" To be called back instead, press star, then 1. {RISK_ADVICE}"
    return message


# --- call legs ------------------------------------------------------------------------

CALL_STATUS_ORDER = list(CallStatus)


@dataclass(frozen=True)
class LegEvent:
    """One status callback from Twilio."""

    call_sid: str
    status: CallStatus
    sequence: int | None


def apply_leg_event(
    session: Session, event: LegEvent, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> str:
    """Apply a status callback once, whatever the order or repetition; say what it did."""
    leg = session.scalars(
        select(CallLeg).where(CallLeg.call_sid == event.call_sid).with_for_update()
    ).one_or_none()
    if leg is None:
        return "unknown call"
    if leg.status in ENDED_CALL_STATUSES:
        return "call already ended"
    stale = (
        event.sequence <= leg.last_sequence
        if event.sequence is not None
        else CALL_STATUS_ORDER.index(event.status) <= CALL_STATUS_ORDER.index(leg.status)
    )
    if stale and event.status not in ENDED_CALL_STATUSES:
        return "stale event"
    leg.status = event.status
    leg.last_sequence = max(leg.last_sequence, event.sequence if event.sequence is not None else -1)
    if event.status not in ENDED_CALL_STATUSES:
        session.flush()
        return "noted"
    leg.ended_at = now
    session.flush()
    if leg.role == LegRole.OFFICER:
        return _officer_left(session, leg, now=now, actor=actor, policy=policy)
    return _clinician_left(session, leg, now=now, actor=actor, policy=policy)


def _officer_left(
    session: Session, leg: CallLeg, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> str:
    request = session.get_one(AdviceRequest, leg.request_id)
    if request.status == RequestStatus.CONNECTED:
        lifecycle.end_call(session, request.id, now=now, actor=actor)
        return "call ended: wrap-up"
    waiting = request.status in (lifecycle.WAITING | {RequestStatus.RECEIVED})
    if waiting and request.call_back_requested_at is not None:
        return "officer waits for a call-back"
    if waiting or request.status == RequestStatus.ACCEPTED:
        lifecycle.abandon(session, request.id, now=now, actor=actor, policy=policy)
        return "abandoned: call-back task"
    return "nothing to do"


def _clinician_left(
    session: Session, leg: CallLeg, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> str:
    request = session.get_one(AdviceRequest, leg.request_id)
    offer = session.get(Offer, leg.offer_id) if leg.offer_id else None
    if offer is not None and offer.outcome is None:
        lifecycle.decline_offer(session, offer.id, offer.clinician_id, now=now, actor=actor)
        return "offer not accepted: passed on"
    if request.status == RequestStatus.ACCEPTED and leg.joined_at is None:
        lifecycle.fail_connection(session, request.id, now=now, actor=actor, policy=policy)
        return "clinician not reached: requeued"
    if request.status == RequestStatus.CONNECTED:
        lifecycle.end_call(session, request.id, now=now, actor=actor)
        return "call ended: wrap-up"
    return "nothing to do"


def add_placed_leg(
    session: Session,
    *,
    call_sid: str,
    request_id: int,
    number: str,
    now: datetime,
    clinician_id: int | None = None,
    offer_id: int | None = None,
) -> CallLeg:
    """Record a call the line placed: to a clinician (with their id) or back to the officer."""
    leg = CallLeg(
        call_sid=call_sid,
        request_id=request_id,
        role=LegRole.OFFICER if clinician_id is None else LegRole.CLINICIAN,
        clinician_id=clinician_id,
        offer_id=offer_id,
        number=number,
        status=CallStatus.QUEUED,
        created_at=now,
    )
    session.add(leg)
    session.flush()
    return leg


def leg_joined(session: Session, call_sid: str, *, now: datetime) -> CallLeg | None:
    """Note that a leg reached the conference."""
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == call_sid)).one_or_none()
    if leg is not None and leg.joined_at is None:
        leg.joined_at = now
        session.flush()
    return leg


# --- messages -------------------------------------------------------------------------

REFERENCE = re.compile(r"^\s*AL\s*-?\s*(\d{1,9})\b[\s:.,-]*(.*)$", re.IGNORECASE | re.DOTALL)
DECISIONS = {
    "not detained": OfficerDecision.NOT_DETAINED,
    "notdetained": OfficerDecision.NOT_DETAINED,
    "detained": OfficerDecision.DETAINED,
}


def _decision(text: str) -> OfficerDecision | None:
    return DECISIONS.get(" ".join(text.lower().split()).rstrip(".!"))


def _open_message_request(session: Session, number: str) -> AdviceRequest | None:
    return session.scalars(
        select(AdviceRequest)
        .where(
            AdviceRequest.caller_number == number,
            AdviceRequest.channel.in_([Channel.SMS, Channel.WHATSAPP]),
            AdviceRequest.status.not_in(TERMINAL),
        )
        .order_by(AdviceRequest.id.desc())
        .limit(1)
    ).one_or_none()


def _belongs_to(request: AdviceRequest | None, number: str, officer: Officer | None) -> bool:
    return request is not None and (
        request.caller_number == number
        or (officer is not None and request.officer_id == officer.id)
    )


def receive_message(
    session: Session,
    *,
    message_sid: str,
    sender: str,
    body: str,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> str:
    """Take an officer's SMS or WhatsApp message; return the reply (the same on a retry)."""
    earlier = session.scalars(
        select(Message).where(Message.message_sid == message_sid)
    ).one_or_none()
    if earlier is not None:
        return earlier.reply or ""
    number = caller_number(sender)
    text = body.strip()
    if number is None or not text:
        return "Advice Line: send a short description of the incident and a clinician will reply."
    text = text[:MESSAGE_LIMIT]
    officer = identify_officer(session, number)
    reference = REFERENCE.match(text)
    request: AdviceRequest | None
    if reference:
        request = session.get(AdviceRequest, int(reference.group(1)))
        reply = _reference_reply(
            session, request, number, officer, reference.group(2), now=now, actor=actor
        )
        if not _belongs_to(request, number, officer):
            request = None
    else:
        request = _open_message_request(session, number)
        if request is not None:
            reply = f"Added to {request.reference}. The clinician will see it."
        else:
            channel = Channel.WHATSAPP if sender.startswith("whatsapp:") else Channel.SMS
            request = lifecycle.create_request(
                session,
                lifecycle.NewRequest(
                    channel=channel,
                    officer_id=officer.id if officer else None,
                    officer_verified=officer is not None,
                    caller_number=number,
                ),
                now=now,
                actor=actor,
            )
            lifecycle.queue_request(session, request.id, now=now, actor=actor, policy=policy)
            reply = (
                f"Advice Line: your request is {request.reference}. A clinician will reply "
                f"here shortly. {RISK_ADVICE}"
            )
    session.add(
        Message(
            request_id=request.id if request else None,
            direction=MessageDirection.INBOUND,
            message_sid=message_sid,
            counterpart=sender[:60],
            body=text,
            reply=reply,
            created_at=now,
        )
    )
    session.flush()
    return reply


def _reference_reply(
    session: Session,
    request: AdviceRequest | None,
    number: str,
    officer: Officer | None,
    rest: str,
    *,
    now: datetime,
    actor: Actor,
) -> str:
    if request is None or not _belongs_to(request, number, officer):
        return (
            "Advice Line: that reference is not one of your requests. Check the AL number "
            "in our messages, or send a new message to open a request."
        )
    decision = _decision(rest)
    if decision is None:
        return (
            f"To report your decision on {request.reference}, reply "
            f"'{request.reference} DETAINED' or '{request.reference} NOT DETAINED'."
        )
    try:
        lifecycle.report_officer_decision(session, request.id, decision, now=now, actor=actor)
    except DomainError as refused:
        return f"Advice Line: {refused}"
    return f"Thank you. Recorded for {request.reference}: {decision.value.replace('_', ' ')}."


def queue_reply(
    session: Session,
    request_id: int,
    clinician_id: int,
    body: str,
    *,
    now: datetime,
    actor: Actor,
) -> Message:
    """A clinician's message to the officer, stored before it is sent (sent after commit)."""
    text = body.strip()
    if not text or len(text) > MESSAGE_LIMIT:
        raise InvalidInput({"body": f"Write 1 to {MESSAGE_LIMIT} characters."})
    request = session.get(AdviceRequest, request_id)
    if request is None or request.caller_number is None:
        raise InvalidInput({"request": "There is no officer number to reply to."})
    accepted = session.scalars(
        select(Offer.clinician_id).where(
            Offer.request_id == request_id, Offer.outcome == "accepted"
        )
    ).one_or_none()
    if accepted != clinician_id:
        raise IllegalTransition("Only the clinician who took the request can reply.")
    counterpart = (
        f"whatsapp:{request.caller_number}"
        if request.channel == Channel.WHATSAPP
        else request.caller_number
    )
    message = Message(
        request_id=request_id,
        direction=MessageDirection.OUTBOUND,
        counterpart=counterpart,
        body=text,
        clinician_id=clinician_id,
        delivery="sending",
        created_at=now,
    )
    session.add(message)
    session.flush()
    record_event(
        session,
        actor,
        "message.queued",
        now=now,
        request_id=request_id,
        subject=("message", message.id),
    )
    return message
