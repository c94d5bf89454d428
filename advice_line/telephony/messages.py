"""SMS and WhatsApp: an officer's messages in, a clinician's replies out.

Like the lifecycle, these flush and never commit; a reply is sent once stored.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.extensions import db
from advice_line.jobs import after_commit
from advice_line.lifecycle.errors import DomainError, IllegalTransition, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRequest,
    Channel,
    Message,
    MessageDirection,
    Offer,
    OfficerDecision,
    ReportedVia,
)
from advice_line.models.officer import Officer
from advice_line.telephony.callers import TERMINAL, caller_number, identify_officer
from advice_line.telephony.gateway import gateway
from advice_line.telephony.protocol import GatewayError
from advice_line.telephony.twiml import RISK_ADVICE

MESSAGE_LIMIT = 1600
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
        lifecycle.report_decision(
            session, request.id, decision, via=ReportedVia.SMS, now=now, actor=actor
        )
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
    """Store a clinician's message to the officer, to be sent after commit."""
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


def send_reply(message_id: int) -> None:
    """Send a queued clinician message; record delivery or the error, never drop it."""
    with Session(db.engine) as session, session.begin():
        message = session.get_one(Message, message_id)
        to, body = message.counterpart, message.body
    try:
        sid, delivery, error = gateway().send_message(to, body), "sent", None
    except GatewayError as refused:
        sid, delivery, error = None, "failed", str(refused)[:300]
    with Session(db.engine) as session, session.begin():
        message = session.get_one(Message, message_id)
        message.message_sid, message.delivery, message.error = sid, delivery, error


def reply_to_officer(
    session: Session,
    request_id: int,
    clinician_id: int,
    body: str,
    *,
    now: datetime,
    actor: Actor,
) -> Message:
    """Store the clinician's message to the officer and send it once stored."""
    message = queue_reply(session, request_id, clinician_id, body, now=now, actor=actor)
    message_id = message.id
    after_commit(session, lambda: send_reply(message_id))
    return message
