"""What Twilio reports: call-leg status, messages in, their delivery; the static fallback."""

from __future__ import annotations

from flask import Response, abort, current_app, request

from advice_line.extensions import db
from advice_line.models import (
    CallStatus,
    Message,
)
from advice_line.telephony import legs, messages, twiml
from advice_line.telephony.webhooks import (
    MAX_SEQUENCE_NUMBER,
    MESSAGE_STATUS,
    _actor,
    _param,
    _sid,
    _xml,
    bp,
    log,
    message,
    signed,
)
from advice_line.transaction import Work, run


@bp.post("/voice/status")
@signed
def call_status() -> Response:
    """A call leg's status changed; safe to receive twice and out of order."""
    try:
        status = CallStatus(request.form.get("CallStatus", ""))
        raw_sequence = request.form.get("SequenceNumber")
        sequence = int(raw_sequence) if raw_sequence is not None else None
    except ValueError:
        abort(400, "CallStatus or SequenceNumber is not valid")
    if sequence is not None and not 0 <= sequence <= MAX_SEQUENCE_NUMBER:
        abort(400, "SequenceNumber is out of range")
    call_sid = _sid("CallSid")
    outcome = run(
        lambda work: legs.apply_leg_event(
            work.session,
            legs.LegEvent(call_sid=call_sid, status=status, sequence=sequence),
            now=work.now,
            actor=work.actor,
            policy=work.policy,
        ),
        _actor(),
    )
    log.info("call %s %s: %s", call_sid, status.value, outcome)
    return Response(status=204)


@bp.route("/voice/fallback", methods=["GET", "POST"])
def fallback() -> Response:
    """Static TwiML for Twilio's Fallback URL: touches nothing that can fail."""
    return _xml(twiml.fallback(current_app.config["FALLBACK_NUMBER"]))


@bp.post("/sms")
@message
def incoming_message() -> Response:
    """An officer's SMS or WhatsApp message: open, add to, or report a decision.

    If the database fails, the officer is told what to do instead (never a 500).
    """
    message_sid, sender = _sid("MessageSid"), _param("From", 60)
    if not message_sid or not sender:
        abort(400, "MessageSid and From are required")
    body = _param("Body", 5000)
    reply = run(
        lambda work: messages.receive_message(
            work.session,
            message_sid=message_sid,
            sender=sender,
            body=body,
            now=work.now,
            actor=work.actor,
            policy=work.policy,
        ),
        _actor(),
    )
    return _xml(twiml.message_reply(reply))


@bp.post("/sms/status")
@signed
def message_status() -> Response:
    """Delivery status of a message the line sent."""
    sid, status = _sid("MessageSid"), request.form.get("MessageStatus", "")
    if not sid or not MESSAGE_STATUS.fullmatch(status):
        abort(400, "MessageSid and MessageStatus are required")

    def note_delivery(work: Work) -> None:
        sent = work.session.scalars(
            db.select(Message).where(Message.message_sid == sid)
        ).one_or_none()
        if sent is not None:
            sent.delivery = status

    run(note_delivery, _actor())
    return Response(status=204)
