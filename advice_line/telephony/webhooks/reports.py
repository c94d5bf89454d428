"""What Twilio reports: call-leg status, messages in, their delivery, finished recordings;
the static fallback."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Response, abort, current_app

from advice_line.extensions import db
from advice_line.models import AdviceRequest, CallStatus, Message
from advice_line.telephony import legs, messages, recordings, replies, twiml
from advice_line.telephony.webhooks import (
    MAX_SEQUENCE_NUMBER,
    MESSAGE_STATUS,
    _param,
    _sid,
    _xml,
    bp,
    log,
    message,
    signed,
)
from advice_line.telephony.webhooks.spooling import Spoolable, receive, spoolable
from advice_line.transaction import Work


def _leg_event(form: Mapping[str, str]) -> legs.LegEvent:
    try:
        status = CallStatus(form.get("CallStatus", ""))
        raw_sequence = form.get("SequenceNumber")
        sequence = int(raw_sequence) if raw_sequence is not None else None
    except ValueError:
        abort(400, "CallStatus or SequenceNumber is not valid")
    if sequence is not None and not 0 <= sequence <= MAX_SEQUENCE_NUMBER:
        abort(400, "SequenceNumber is out of range")
    return legs.LegEvent(call_sid=_sid("CallSid", form), status=status, sequence=sequence)


def _apply_leg_event(work: Work, event: legs.LegEvent) -> str:
    outcome = legs.apply_leg_event(
        work.session, event, now=work.now, actor=work.actor, policy=work.policy
    )
    log.info("call %s %s: %s", event.call_sid, event.status.value, outcome)
    return outcome


def _no_content(*_: object) -> Response:
    return Response(status=204)


CALL_STATUS = spoolable(
    Spoolable(
        endpoint="twilio.call_status",
        fields=("CallSid", "CallStatus", "SequenceNumber"),
        parse=_leg_event,
        apply=_apply_leg_event,
        answer=_no_content,
        kept=_no_content,
        conversation=lambda event: event.call_sid,
    )
)


@bp.post("/voice/status")
@signed
def call_status() -> Response:
    """A call leg's status changed; safe to receive twice and out of order.

    If the database is down, it is kept in the spool and applied when it is back.
    """
    return receive(CALL_STATUS)


@bp.route("/voice/fallback", methods=["GET", "POST"])
def fallback() -> Response:
    """Static TwiML for Twilio's Fallback URL: touches nothing that can fail."""
    return _xml(twiml.fallback(current_app.config["FALLBACK_NUMBER"]))


@dataclass(frozen=True)
class Incoming:
    """An officer's message as Twilio reports it."""

    message_sid: str
    sender: str
    body: str


def _incoming(form: Mapping[str, str]) -> Incoming:
    message_sid, sender = _sid("MessageSid", form), _param("From", 60, form)
    if not message_sid or not sender:
        abort(400, "MessageSid and From are required")
    return Incoming(message_sid, sender, _param("Body", 5000, form))


def _receive(work: Work, incoming: Incoming) -> str:
    return messages.receive_message(
        work.session,
        message_sid=incoming.message_sid,
        sender=incoming.sender,
        body=incoming.body,
        now=work.now,
        actor=work.actor,
        policy=work.policy,
    )


def _receive_late(work: Work, incoming: Incoming) -> None:
    """Replayed from the spool: store it once, then send the reply it could not get."""
    if not messages.already_received(work.session, incoming.message_sid):
        _receive(work, incoming)
        replies.send_late_reply(work.session, incoming.message_sid, actor=work.actor)


INCOMING_MESSAGE = spoolable(
    Spoolable(
        endpoint="twilio.incoming_message",
        fields=("MessageSid", "From", "Body"),
        parse=_incoming,
        apply=_receive,
        answer=lambda _incoming, reply: _xml(twiml.message_reply(reply)),
        kept=lambda: _xml(twiml.message_kept(current_app.config["FALLBACK_NUMBER"])),
        conversation=lambda incoming: incoming.sender,
        replayed=_receive_late,
    )
)


@bp.post("/sms")
@message
def incoming_message() -> Response:
    """An officer's SMS or WhatsApp message: open, add to, or report a decision.

    If the database is down, it is kept in the spool and the officer told it is received
    (and, if that fails too, what to do instead): never a 500.
    """
    return receive(INCOMING_MESSAGE)


def _delivery(form: Mapping[str, str]) -> tuple[str, str]:
    sid, status = _sid("MessageSid", form), form.get("MessageStatus", "")
    if not sid or not MESSAGE_STATUS.fullmatch(status):
        abort(400, "MessageSid and MessageStatus are required")
    return sid, status


def _note_delivery(work: Work, delivery: tuple[str, str]) -> None:
    sid, status = delivery
    sent = work.session.scalars(db.select(Message).where(Message.message_sid == sid)).one_or_none()
    if sent is not None:
        sent.delivery = status


MESSAGE_STATUS_REPORT = spoolable(
    Spoolable(
        endpoint="twilio.message_status",
        fields=("MessageSid", "MessageStatus"),
        parse=_delivery,
        apply=_note_delivery,
        answer=_no_content,
        kept=_no_content,
        conversation=lambda delivery: delivery[0],
    )
)


@bp.post("/sms/status")
@signed
def message_status() -> Response:
    """Delivery status of a message the line sent (kept in the spool if the database is down)."""
    return receive(MESSAGE_STATUS_REPORT)


RECORDING_DURATION = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class RecordingReport:
    """Twilio's report of a recording of a request's conference."""

    request_id: int
    recording_sid: str
    status: str
    duration_seconds: int


def _recording_report(form: Mapping[str, str]) -> RecordingReport:
    recording_sid, duration = _sid("RecordingSid", form), form.get("RecordingDuration", "")
    if not recording_sid.startswith("RE") or not RECORDING_DURATION.fullmatch(duration):
        abort(400, "RecordingSid and RecordingDuration are required")
    return RecordingReport(
        int(form["request_id"]), recording_sid, form.get("RecordingStatus", ""), int(duration)
    )


def _note_recording(work: Work, report: RecordingReport) -> None:
    if work.session.get(AdviceRequest, report.request_id) is None:
        abort(404)
    if report.status != "completed":
        log.warning(
            "recording %s of request %s is %r: nothing to fetch",
            report.recording_sid,
            report.request_id,
            report.status[:40],
        )
        return
    recordings.report(
        work.session,
        report.request_id,
        report.recording_sid,
        duration_seconds=report.duration_seconds,
        now=work.now,
        actor=work.actor,
    )


RECORDING_STATUS = spoolable(
    Spoolable(
        endpoint="twilio.recording_status",
        fields=("RecordingSid", "RecordingStatus", "RecordingDuration"),
        parse=_recording_report,
        apply=_note_recording,
        answer=_no_content,
        kept=_no_content,
        conversation=lambda report: report.recording_sid,
        path_args=("request_id",),
    )
)


@bp.post("/voice/recording/<int:request_id>")
@signed
def recording_status(request_id: int) -> Response:
    """A recording of the request's conference is complete: note it once, fetch it after.

    Repeats and late arrivals change nothing (idempotent by RecordingSid); a report of a
    recording that failed or is absent has nothing to fetch. If the database is down, it
    is kept in the spool (with the request id of its path) and applied when it is back."""
    return receive(RECORDING_STATUS)
