"""Twilio's webhooks: thin routes over intake, call legs and messages, every one signed.

Fixed paths (configured in Twilio): ``/twilio/voice``, ``/twilio/voice/status``,
``/twilio/sms``; the rest are ours and handed to Twilio in TwiML or REST calls.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.inputs import without_control_codes
from advice_line.models import (
    AdviceRequest,
    CallStatus,
    Channel,
    Message,
    Offer,
    OfficerDecision,
    ReportedVia,
    RequestStatus,
)
from advice_line.telephony import dialer, intake, legs, messages, twiml
from advice_line.telephony.intake import Heard, Step
from advice_line.telephony.urls import webhook_url
from advice_line.transaction import Work, current_policy, run

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
log = logging.getLogger(__name__)
TWIML = "text/xml"
SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
MESSAGE_STATUS = re.compile(r"[a-z_-]{1,40}")
MAX_SEQUENCE_NUMBER = 2**31 - 1


def _param(name: str, limit: int = 200) -> str:
    """A parameter as Twilio sent it, without control codes, cut to ``limit`` characters."""
    return str(without_control_codes(request.form.get(name, "")))[:limit]


def _sid(name: str) -> str:
    """A Twilio SID parameter (two letters, 32 hex digits), or "" if it is not one."""
    value = request.form.get(name, "")
    return value if SID.fullmatch(value) else ""


def _actor() -> Actor:
    return Actor("twilio", source=_sid("CallSid") or _sid("MessageSid") or None)


def _xml(body: str) -> Response:
    return Response(body, mimetype=TWIML)


def signed(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse (403, nothing stored) any request without a valid X-Twilio-Signature."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Response:
        validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
        path = request.full_path.rstrip("?") if request.query_string else request.path
        url = current_app.config["PUBLIC_BASE_URL"] + path
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(url, request.form, signature):
            log.warning("refused unsigned or tampered Twilio request to %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked


def _guarded(
    view: Callable[..., Response], instead: Callable[[str | None], str], what: str
) -> Callable[..., Response]:
    """A signed webhook that answers ``instead`` (TwiML) if anything inside fails."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except HTTPException:
            raise  # a request that is not Twilio's own (unknown request, no CallSid): 4xx
        except Exception:
            log.exception(
                "%s webhook %s failed; answering with what to do instead", what, request.path
            )
            try:
                db.session.rollback()  # a failed read outside the transaction edge
            except Exception:
                log.exception("rollback failed too")
            return _xml(instead(current_app.config["FALLBACK_NUMBER"]))

    return signed(guarded)


def voice(view: Callable[..., Response]) -> Callable[..., Response]:
    """A signed voice webhook that answers fallback TwiML if anything inside fails."""
    return _guarded(view, twiml.fallback, "voice")


def message(view: Callable[..., Response]) -> Callable[..., Response]:
    """A signed message webhook that tells the officer what to do if anything fails."""
    return _guarded(view, twiml.message_fallback, "message")


def _waiting_request(request_id: int) -> AdviceRequest:
    found = db.session.get(AdviceRequest, request_id)
    if found is None:
        abort(404)
    return found


# --- officer's call -------------------------------------------------------------------


@bp.post("/voice")
@voice
def incoming_call() -> Response:
    """An officer rings the line: identify them, then ask the key questions."""
    call_sid, caller = _sid("CallSid"), _param("From", 60)
    if not call_sid:
        abort(400, "CallSid is required")
    advice, officer = run(
        lambda work: intake.open_voice_request(
            work.session, call_sid=call_sid, caller=caller, now=work.now, actor=work.actor
        ),
        _actor(),
    )
    if officer is not None:
        greeting = f"Advice Line. Hello {officer.name or officer.collar_number}."
    else:
        greeting = "Advice Line, for police officers needing mental-health advice."
    return _ask(advice, intake.steps_for(advice)[0], attempt=1, preface=greeting)


def _ask(advice: AdviceRequest, step: Step, *, attempt: int, preface: str = "") -> Response:
    prompt = (
        twiml.force_prompt(current_app.config["FORCES"])
        if step == Step.FORCE
        else intake.QUESTIONS[step]
    )
    action = webhook_url("twilio.intake", request_id=advice.id, step=step.value, attempt=attempt)
    digits = None if step == Step.COLLAR else 1
    return _xml(twiml.ask(prompt, action, digits=digits, preface=preface))


# The endpoint keeps its name: it labels this webhook's timings in /metrics.
@bp.post("/voice/intake/<int:request_id>/<step>", endpoint="intake")
@voice
def intake_answer(request_id: int, step: str) -> Response:
    """One answer during intake; silence or nonsense asks again, then uses a safe default."""
    advice = _waiting_request(request_id)
    try:
        current = Step(step)
        attempt = int(request.args.get("attempt", "1"))
    except ValueError:
        abort(404)
    heard = Heard(
        digits=_param("Digits", 20),
        speech=_param("SpeechResult"),
    )
    answer = intake.interpret(current, heard, current_app.config["FORCES"])
    if answer is None and attempt < intake.MAX_ATTEMPTS:
        return _ask(advice, current, attempt=attempt + 1, preface="Sorry, I didn't get that.")
    if answer is None:
        answer = intake.SAFE_DEFAULTS.get(current)

    def answered(work: Work) -> Response:
        if advice.status == RequestStatus.RECEIVED:
            intake.record_step(
                work.session, advice, current, answer, now=work.now, actor=work.actor
            )
        steps = intake.steps_for(advice)
        following = steps[steps.index(current) + 1 :]
        if following:
            return _ask(advice, following[0], attempt=1)
        if advice.status == RequestStatus.RECEIVED:
            lifecycle.queue_request(
                work.session, advice.id, now=work.now, actor=work.actor, policy=work.policy
            )
        return _join_officer(advice, "Thank you. Connecting you to a clinician.")

    return run(answered, _actor())


def _join_officer(advice: AdviceRequest, preface: str) -> Response:
    return _xml(
        twiml.join_as_officer(
            advice.reference,
            preface=preface,
            wait_url=webhook_url("twilio.hold", request_id=advice.id),
            left_url=webhook_url("twilio.left_conference", request_id=advice.id),
        )
    )


@bp.post("/voice/hold/<int:request_id>")
@voice
def hold(request_id: int) -> Response:
    """The conference's wait music: place in the queue, expected wait, call-back offer."""
    advice = _waiting_request(request_id)
    message = intake.hold_message(
        db.session(),
        advice,
        now=utcnow(),
        policy=current_policy(),
        call_back_after=timedelta(seconds=current_app.config["CALL_BACK_OFFER_AFTER_SECONDS"]),
    )
    return _xml(twiml.hold(message, hold_url=webhook_url("twilio.hold", request_id=request_id)))


@bp.post("/voice/left/<int:request_id>")
@voice
def left_conference(request_id: int) -> Response:
    """The officer left the conference: pressed star while waiting, or the call ended."""
    advice = _waiting_request(request_id)
    if advice.status in lifecycle.WAITING:
        return _xml(
            twiml.offer_call_back(
                webhook_url("twilio.call_back_choice", request_id=request_id),
                webhook_url("twilio.rejoin", request_id=request_id),
            )
        )
    if advice.status not in lifecycle.TAKEN:
        return _xml(twiml.goodbye(f"The call has ended. {_text_the_decision(advice)} Goodbye."))
    return _xml(
        twiml.ask(
            "If you have decided, press 1 if you detained the person under section 136, "
            "or 2 if you did not. Or hang up and text us later.",
            webhook_url("twilio.decision", request_id=request_id),
            digits=1,
            preface="The call has ended.",
        )
    )


def _text_the_decision(advice: AdviceRequest) -> str:
    return (
        f"To report your decision, text {advice.reference} DETAINED or "
        f"{advice.reference} NOT DETAINED to this number."
    )


KEYPAD_DECISIONS = {"1": OfficerDecision.DETAINED, "2": OfficerDecision.NOT_DETAINED}


def _heard_decision() -> OfficerDecision | None:
    said = " ".join(_param("SpeechResult").lower().split()).strip(".!")
    if said in {"not detained", "no", "did not", "two"}:
        return OfficerDecision.NOT_DETAINED
    if said in {"detained", "yes", "one"}:
        return OfficerDecision.DETAINED
    return KEYPAD_DECISIONS.get(_param("Digits", 5))


@bp.post("/voice/decision/<int:request_id>")
@voice
def decision(request_id: int) -> Response:
    """The officer's decision by keypad (or speech) at the end of the call."""
    advice = _waiting_request(request_id)
    decided = _heard_decision()
    if decided is None:
        return _xml(twiml.goodbye(f"{_text_the_decision(advice)} Goodbye."))
    reported = decided

    def report(work: Work) -> Response:
        lifecycle.report_decision(
            work.session,
            request_id,
            reported,
            via=ReportedVia.KEYPAD,
            now=work.now,
            actor=work.actor,
        )
        follow = (
            f" When you reach the place of safety, text {advice.reference} ARRIVED, and "
            f"{advice.reference} HANDED OVER at the handover."
            if reported == OfficerDecision.DETAINED
            else ""
        )
        return _xml(
            twiml.goodbye(
                f"Thank you. Recorded: {reported.value.replace('_', ' ')}.{follow} Goodbye."
            )
        )

    return run(
        report,
        _actor(),
        lambda refused: _xml(twiml.goodbye(f"Sorry, {refused} {_text_the_decision(advice)}")),
    )


@bp.post("/voice/call-back/<int:request_id>")
@voice
def call_back_choice(request_id: int) -> Response:
    """Press 1: be called back (the request keeps its place); otherwise keep waiting."""
    advice = _waiting_request(request_id)
    if request.form.get("Digits") == "1" and advice.status in lifecycle.WAITING:
        run(
            lambda work: lifecycle.request_call_back(
                work.session, request_id, now=work.now, actor=work.actor
            ),
            _actor(),
        )
        return _xml(
            twiml.goodbye(
                f"We will call you back on this number as soon as a clinician is free. "
                f"Your reference is {advice.reference}. {twiml.RISK_ADVICE} Goodbye."
            )
        )
    return _join_officer(advice, "Keeping your place.")


@bp.post("/voice/rejoin/<int:request_id>")
@voice
def rejoin(request_id: int) -> Response:
    """Back into the conference after declining the call-back."""
    return _join_officer(_waiting_request(request_id), "Keeping your place.")


@bp.post("/voice/officer/<int:request_id>")
@voice
def officer_called_back(request_id: int) -> Response:
    """The officer answered our call-back: into the conference the clinician is in."""
    advice = _waiting_request(request_id)
    call_sid = _sid("CallSid")
    run(lambda work: legs.leg_joined(work.session, call_sid, now=work.now), _actor())
    return _join_officer(
        advice, f"This is the Advice Line calling you back about {advice.reference}."
    )


# --- clinician's phone ----------------------------------------------------------------


def _summary(advice: AdviceRequest) -> str:
    who = "an unverified caller"
    if advice.officer is not None:
        who = f"{advice.officer.name or advice.officer.collar_number}, {advice.officer.force}"
    elif advice.claimed_collar_number:
        who = f"officer {advice.claimed_collar_number}, not verified"
    flags = [
        text
        for present, text in (
            (advice.risk_to_life, "Risk to life."),
            (advice.subject_under_18, "Person under 18."),
            (advice.in_dwelling, "In a private dwelling."),
        )
        if present
    ]
    channel = "" if advice.channel == Channel.VOICE else f" by {advice.channel.value}"
    return f"Request {advice.reference}{channel} from {who}. {' '.join(flags)}"


@bp.post("/voice/whisper/<int:offer_id>")
@voice
def whisper(offer_id: int) -> Response:
    """An on-call clinician answered: tell them who is asking; press 1 to accept."""
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.outcome is not None:
        return _xml(twiml.goodbye("This request has already gone to another clinician."))
    return _xml(
        twiml.whisper(
            _summary(offer.request), webhook_url("twilio.whisper_answer", offer_id=offer_id)
        )
    )


@bp.post("/voice/whisper/<int:offer_id>/answer")
@voice
def whisper_answer(offer_id: int) -> Response:
    """1 accepts and joins the conference; anything else declines and the request moves on."""
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        abort(404)
    if request.form.get("Digits") != "1":
        if offer.outcome is None:
            run(
                lambda work: lifecycle.decline_offer(
                    work.session, offer.id, offer.clinician_id, now=work.now, actor=work.actor
                ),
                _actor(),
            )
        return _xml(twiml.goodbye("Declined. The request goes to the next clinician."))

    def accepted(work: Work) -> Response:
        lifecycle.accept_offer(
            work.session, offer.id, now=work.now, actor=work.actor, policy=work.policy
        )
        return _clinician_joins(work, offer.request_id, "Accepted.")

    return run(accepted, _actor(), lambda refused: _xml(twiml.goodbye(f"Sorry, {refused}")))


def _clinician_joins(work: Work, request_id: int, preface: str) -> Response:
    """Put the answering clinician's leg into the conference (or tell them it has ended)."""
    advice = work.session.get_one(AdviceRequest, request_id)
    legs.leg_joined(work.session, _sid("CallSid"), now=work.now)
    if advice.status == RequestStatus.ACCEPTED:
        lifecycle.connect(work.session, advice.id, now=work.now, actor=work.actor)
    if advice.status != RequestStatus.CONNECTED:
        return _xml(twiml.goodbye("This request has ended."))
    if advice.channel != Channel.VOICE and advice.call_back_requested_at is None:
        preface += " Calling the officer now."
    return _xml(twiml.join_as_clinician(advice.reference, f"{preface} {_summary(advice)}"))


@bp.post("/voice/clinician/<int:request_id>")
@voice
def clinician_answered(request_id: int) -> Response:
    """A clinician who accepted at the console answered their phone: into the conference."""
    _waiting_request(request_id)
    return run(
        lambda work: _clinician_joins(work, request_id, "Connecting you to the officer."),
        _actor(),
    )


@bp.post("/voice/senior-alert/<int:request_id>")
@voice
def senior_alert(request_id: int) -> Response:
    """What an on-call senior hears when rung about an escalated request."""
    advice = _waiting_request(request_id)
    return _xml(twiml.goodbye(f"{dialer.senior_alert_text(advice.reference)} Goodbye."))


# --- status callbacks, fallback, messages ---------------------------------------------


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
