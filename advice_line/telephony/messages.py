"""SMS and WhatsApp: an officer's messages in (replies out are in ``replies``).

Like the lifecycle, these flush and never commit.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import LONDON, london_moment
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import DomainError
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRequest,
    Channel,
    Message,
    MessageDirection,
    OfficerDecision,
    ReportedVia,
)
from advice_line.models.officer import Officer
from advice_line.telephony.callers import (
    caller_number,
    identify_officer,
    past_limit,
    request_a_message_joins,
)
from advice_line.telephony.twiml import RISK_ADVICE

MESSAGE_LIMIT = 1600
REFERENCE = re.compile(r"^\s*AL\s*-?\s*(\d{1,9})\b[\s:.,-]*(.*)$", re.IGNORECASE | re.DOTALL)
#: What an officer can report after a reference: the command, then an optional time.
REPORT = re.compile(
    r"^(not\s*detained|detained|arrived|handed\s*over|handover)\b[\s:.,!-]*(.*?)[\s.!]*$",
    re.IGNORECASE | re.DOTALL,
)
DECISIONS = {"notdetained": OfficerDecision.NOT_DETAINED, "detained": OfficerDecision.DETAINED}
ARRIVED = "arrived at the place of safety"
HANDED_OVER = "handed over to health staff"
DETENTION_TIMES = {"arrived": ARRIVED, "handedover": HANDED_OVER, "handover": HANDED_OVER}
#: The key questions by text: one reply of three answers, such as "1 2 2" or "yes no no".
KEY_QUESTIONS = (
    "Reply with 3 answers, for example 1 2 2: "
    "Is anyone's life at risk now? 1 yes, 2 no. "
    "Is the person under 18? 1 yes, 2 no, 3 not known. "
    "Are they in a house, flat or room where anyone lives (or its garden)? "
    "1 yes, 2 no, 3 not known."
)
ANSWER_WORDS: dict[str, bool | None] = {
    "1": True,
    "y": True,
    "yes": True,
    "2": False,
    "n": False,
    "no": False,
    "3": None,
    "?": None,
    "dk": None,
    "unknown": None,
}
NOT_KNOWN = re.compile(r"\b(not|don'?t)\s+known?\b")


def parse_key_answers(text: str) -> lifecycle.KeyAnswers | None:
    """Read three answers ("1 2 2", "122", "yes, no, not known"), or None if it is not that."""
    tokens = re.findall(r"[a-z0-9?]+", NOT_KNOWN.sub(" 3 ", text.lower()))
    if len(tokens) == 1 and re.fullmatch(r"[123]{3}", tokens[0]):
        tokens = list(tokens[0])
    if len(tokens) != 3 or any(token not in ANSWER_WORDS for token in tokens):
        return None
    risk, under_18, dwelling = (ANSWER_WORDS[token] for token in tokens)
    return lifecycle.KeyAnswers(risk_to_life=risk, subject_under_18=under_18, in_dwelling=dwelling)


def _said(answers: lifecycle.KeyAnswers) -> str:
    def word(value: bool | None) -> str:
        return "not known" if value is None else ("yes" if value else "no")

    return (
        f"life at risk {word(answers.risk_to_life)}, under 18 {word(answers.subject_under_18)}, "
        f"in a dwelling {word(answers.in_dwelling)}"
    )


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
    earlier = received(session, message_sid)
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
            session,
            request,
            number,
            officer,
            reference.group(2),
            via=_via(sender),
            now=now,
            actor=actor,
            policy=policy,
        )
        if not _belongs_to(request, number, officer):
            request = None
    else:
        request = request_a_message_joins(session, number)
        answers = parse_key_answers(text) if request is not None else None
        if request is not None and request.channel == Channel.VOICE:
            lifecycle.join(session, request.id, _channel(sender), now=now, actor=actor)
        if request is not None and answers is not None:
            reply = _answer(session, request, answers, now=now, actor=actor, policy=policy)
        elif request is not None:
            reply = f"Added to {request.reference}. The clinician will see it."
        else:
            request = lifecycle.create_request(
                session,
                lifecycle.NewRequest(
                    channel=_channel(sender),
                    officer_id=officer.id if officer else None,
                    officer_verified=officer is not None,
                    caller_number=number,
                    over_limit=past_limit(session, number, now=now, policy=policy),
                ),
                now=now,
                actor=actor,
            )
            lifecycle.queue_request(session, request.id, now=now, actor=actor, policy=policy)
            reply = (
                f"Advice Line: your request is {request.reference}. A clinician will reply "
                f"here shortly. {RISK_ADVICE} {KEY_QUESTIONS}"
            )
    message = Message(
        request_id=request.id if request else None,
        direction=MessageDirection.INBOUND,
        message_sid=message_sid,
        counterpart=sender[:60],
        body=text,
        reply=reply,
        created_at=now,
    )
    session.add(message)
    session.flush()
    signals.message_added.send(message)
    return reply


def received(session: Session, message_sid: str) -> Message | None:
    """The officer's stored message with this MessageSid, if any."""
    return session.scalars(select(Message).where(Message.message_sid == message_sid)).one_or_none()


def already_received(session: Session, message_sid: str) -> bool:
    """Whether the officer's message with this MessageSid is stored."""
    return received(session, message_sid) is not None


def _channel(sender: str) -> Channel:
    return Channel.WHATSAPP if sender.startswith("whatsapp:") else Channel.SMS


def _via(sender: str) -> ReportedVia:
    return ReportedVia.WHATSAPP if sender.startswith("whatsapp:") else ReportedVia.SMS


def _answer(
    session: Session,
    request: AdviceRequest,
    answers: lifecycle.KeyAnswers,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> str:
    """Store the officer's answers to the key questions; say what was recorded."""
    try:
        with session.begin_nested():
            lifecycle.answer_key_questions(
                session, request.id, answers, now=now, actor=actor, policy=policy
            )
    except DomainError as refused:
        return f"Advice Line: {refused}"
    return f"Thank you. Recorded for {request.reference}: {_said(answers)}."


def _reference_reply(
    session: Session,
    request: AdviceRequest | None,
    number: str,
    officer: Officer | None,
    rest: str,
    *,
    via: ReportedVia,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> str:
    if request is None or not _belongs_to(request, number, officer):
        return (
            "Advice Line: that reference is not one of your requests. Check the AL number "
            "in our messages, or send a new message to open a request."
        )
    answers = parse_key_answers(rest)
    if answers is not None:
        return _answer(session, request, answers, now=now, actor=actor, policy=policy)
    report = REPORT.match(rest.strip())
    how_to = (
        f"To report on {request.reference}, reply '{request.reference} DETAINED' or "
        f"'{request.reference} NOT DETAINED', then '{request.reference} ARRIVED' and "
        f"'{request.reference} HANDED OVER' (add a time such as 14:05 if it was earlier)."
    )
    if report is None:
        return how_to
    command = re.sub(r"\s+", "", report.group(1).lower())
    try:
        when = london_moment(report.group(2), now, future=False) if report.group(2) else None
    except ValueError as error:
        return f"Advice Line: {error} {how_to}"
    try:
        with session.begin_nested():
            said = _report(
                session, request, command, when, via=via, now=now, actor=actor, policy=policy
            )
    except DomainError as refused:
        return f"Advice Line: {refused}"
    at = f" at {when.astimezone(LONDON).strftime('%H:%M')}" if when else ""
    return f"Thank you. Recorded for {request.reference}: {said}{at}."


def _report(
    session: Session,
    request: AdviceRequest,
    command: str,
    when: datetime | None,
    *,
    via: ReportedVia,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> str:
    """Record the officer's decision or a detention time; return what was recorded."""
    if command in DECISIONS:
        decision = DECISIONS[command]
        lifecycle.report_decision(
            session, request.id, decision, via=via, now=now, actor=actor, decided_at=when
        )
        return decision.value.replace("_", " ")
    said = DETENTION_TIMES[command]
    moment = when or now
    report = (
        lifecycle.DetentionReport(arrived_at=moment)
        if said == ARRIVED
        else lifecycle.DetentionReport(handed_over_at=moment)
    )
    lifecycle.record_detention(
        session, request.id, report, via=via, now=now, actor=actor, policy=policy
    )
    return said
