"""SMS and WhatsApp: messages out to the officer, from a clinician or the line itself.

Like the lifecycle, these flush and never commit; a message is stored with an outbox row
(``outbox.enqueue``) and sent once committed.
"""

from __future__ import annotations

from datetime import datetime

from flask import has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.clock import utcnow
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.models import (
    AdviceRequest,
    Channel,
    Message,
    MessageDirection,
    Offer,
    OutboxItem,
    OutboxPurpose,
)
from advice_line.telephony import outbox
from advice_line.telephony.intake import place_and_wait
from advice_line.telephony.messages import MESSAGE_LIMIT, received
from advice_line.telephony.twiml import RISK_ADVICE
from advice_line.transaction import current_policy


def send_late_reply(session: Session, message_sid: str, *, actor: Actor) -> None:
    """Send, as a message of its own, the reply a stored message could not get at once."""
    inbound = received(session, message_sid)
    if inbound is None or inbound.request_id is None or not inbound.reply:
        return
    request = session.get_one(AdviceRequest, inbound.request_id)
    late = queue_outbound(
        session, request, inbound.reply, clinician_id=None, now=utcnow(), actor=actor
    )
    send_once_stored(session, late)


def queue_outbound(
    session: Session,
    request: AdviceRequest,
    body: str,
    *,
    clinician_id: int | None,
    now: datetime,
    actor: Actor,
) -> Message:
    """Store a message to the officer, to be sent after commit; audit it."""
    if request.caller_number is None:
        raise InvalidInput({"request": "There is no officer number to reply to."})
    counterpart = (
        f"whatsapp:{request.caller_number}"
        if request.channel == Channel.WHATSAPP
        else request.caller_number
    )
    message = Message(
        request_id=request.id,
        direction=MessageDirection.OUTBOUND,
        counterpart=counterpart,
        body=body,
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
        request_id=request.id,
        subject=("message", message.id),
    )
    signals.message_added.send(message)
    return message


def send_once_stored(session: Session, message: Message) -> Message:
    """Write the outbox row that sends a stored message to the officer."""
    assert message.request_id is not None
    outbox.enqueue(
        session,
        OutboxPurpose.REPLY,
        request_id=message.request_id,
        to=message.counterpart,
        body=message.body,
        message_id=message.id,
    )
    return message


def tell_waiting_officer(request: AdviceRequest, **_: object) -> None:
    """A texting officer has waited past the answer target: the expected wait and risk advice."""
    session = object_session(request)
    if (
        session is None
        or not has_app_context()
        or request.channel == Channel.VOICE
        or request.caller_number is None
        or request.status not in lifecycle.WAITING
    ):
        return
    now = request.answer_target_breached_at or utcnow()
    wait = place_and_wait(session, request, now=now, policy=current_policy())
    queued = queue_outbound(
        session,
        request,
        f"Advice Line: {request.reference} is still waiting for a clinician. {wait} {RISK_ADVICE}",
        clinician_id=None,
        now=now,
        actor=Actor("system", source="answer target"),
    )
    send_once_stored(session, queued)


def reply_to_officer(
    session: Session,
    request_id: int,
    clinician_id: int,
    body: str,
    *,
    now: datetime,
    actor: Actor,
) -> Message:
    """Store the clinician's message to the officer; it is sent once stored."""
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
    message = queue_outbound(
        session, request, text, clinician_id=clinician_id, now=now, actor=actor
    )
    return send_once_stored(session, message)


def _always(_session: Session, _item: OutboxItem) -> bool:
    return True


def _delivered(session: Session, item: OutboxItem, sid: str) -> None:
    message = session.get_one(Message, item.message_id)
    message.message_sid, message.delivery, message.error = sid, "sent", None


def _not_delivered(session: Session, item: OutboxItem, error: str) -> None:
    message = session.get_one(Message, item.message_id)
    message.delivery, message.error = "failed", error


#: A message to the officer is sent whatever happened since: the thread shows it.
DELIVERIES = {OutboxPurpose.REPLY: outbox.Delivery(_always, _delivered, _not_delivered)}
