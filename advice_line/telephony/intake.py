"""An officer's call to the phone menu: open the request, ask, and say where they stand.

The webhooks turn Twilio's parameters into calls on these functions; these turn them into
lifecycle steps. Like the lifecycle, they flush and never commit.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AdviceRequest, CallLeg, CallStatus, Channel, LegRole
from advice_line.models.officer import Officer
from advice_line.routing import views, waits
from advice_line.telephony.callers import (
    caller_number,
    identify_officer,
    open_request,
    past_limit,
)
from advice_line.telephony.twiml import RISK_ADVICE

MAX_ATTEMPTS = 2
OTHER_FORCE = "Other force"


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


@dataclass(frozen=True)
class IncomingCall:
    """An officer's call as the line took it: its request, who is calling, and whether it
    joined the request their number already had open."""

    request: AdviceRequest
    officer: Officer | None
    joined: bool


def open_voice_request(
    session: Session,
    *,
    call_sid: str,
    caller: str,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> IncomingCall:
    """Take an incoming call, once per CallSid (Twilio may retry): it joins the number's
    open call request, or opens one (marked if the number is past its limit).

    A withheld number joins nothing and counts towards no limit: it could be anyone.
    """
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == call_sid)).one_or_none()
    if leg is not None:
        earlier = session.get_one(AdviceRequest, leg.request_id)
        first_leg = session.scalar(
            select(func.min(CallLeg.id)).where(
                CallLeg.request_id == earlier.id, CallLeg.role == LegRole.OFFICER
            )
        )
        officer = earlier.officer if earlier.officer_verified else None
        return IncomingCall(earlier, officer, joined=first_leg != leg.id)
    number = caller_number(caller)
    officer = identify_officer(session, number)
    request = open_request(session, number, channels=(Channel.VOICE,)) if number else None
    if request is not None:
        lifecycle.join(session, request.id, Channel.VOICE, now=now, actor=actor)
    else:
        request = lifecycle.create_request(
            session,
            lifecycle.NewRequest(
                channel=Channel.VOICE,
                officer_id=officer.id if officer else None,
                officer_verified=officer is not None,
                caller_number=number or caller[:40],
                over_limit=number is not None
                and past_limit(session, number, now=now, policy=policy),
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
    return IncomingCall(request, officer, joined=request.joined_contacts > 0)


def joined_greeting(request: AdviceRequest) -> str:
    """What a caller whose call joined their open request hears before the conference."""
    if request.status in lifecycle.WAITING:
        return (
            f"Advice Line. You are already in the queue with request {request.reference}, "
            "and you keep your place."
        )
    return f"Advice Line. A clinician has your request {request.reference}. Joining you now."


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


#: What the officer is told when there is no honest figure for the wait.
NO_ESTIMATE = "A clinician will answer as soon as one is free."


def spoken_wait(wait: timedelta | None, waited: timedelta) -> str:
    """Say the expected wait the way a person would, never "under a minute" once the
    officer has waited a minute or more (``NO_ESTIMATE`` without a figure)."""
    if wait is None:
        return NO_ESTIMATE
    if wait < timedelta(minutes=1) and waited < timedelta(minutes=1):
        return "The expected wait is under a minute."
    minutes = max(1, round(wait.total_seconds() / 60))
    return f"The expected wait is about {minutes} minute{'s' if minutes > 1 else ''}."


def place_and_wait(
    session: Session, request: AdviceRequest, *, now: datetime, policy: RoutingPolicy
) -> str:
    """The officer's place in the queue and the expected wait, said the same on every channel."""
    position = views.queue_position(session, request)
    place = "next" if position == 1 else f"number {position} in the queue"
    assert request.waiting_since is not None
    wait = waits.expected_wait(session, request, now=now, policy=policy)
    return f"You are {place}. {spoken_wait(wait, now - request.waiting_since)}"


def hold_message(
    session: Session,
    request: AdviceRequest,
    *,
    now: datetime,
    policy: RoutingPolicy,
    call_back_after: timedelta,
) -> str:
    """What the waiting officer hears now: place, expected wait, and the call-back option."""
    if request.status in lifecycle.FINISHED:
        return "This request has ended."
    if request.status not in lifecycle.WAITING:
        return "A clinician is joining you now."
    message = place_and_wait(session, request, now=now, policy=policy)
    assert request.waiting_since is not None
    if now - request.waiting_since >= call_back_after:
        message += f" To be called back instead, press star, then 1. {RISK_ADVICE}"
    return message
