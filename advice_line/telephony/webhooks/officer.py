"""The officer's call: identity and key questions, waiting, call-back, the decision."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from flask import Response, abort, current_app, request

from advice_line import lifecycle
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle.steps import request_for_update
from advice_line.models import (
    AdviceRequest,
    OfficerDecision,
    ReportedVia,
    RequestStatus,
)
from advice_line.telephony import intake, legs, recordings, twiml
from advice_line.telephony.intake import Heard, Step
from advice_line.telephony.urls import webhook_url
from advice_line.telephony.webhooks import (
    _actor,
    _param,
    _sid,
    _waiting_request,
    _xml,
    bp,
    voice,
)
from advice_line.telephony.webhooks.spooling import Spoolable, receive, spoolable
from advice_line.transaction import Work, current_policy, run


def _call(form: Mapping[str, str]) -> tuple[str, str]:
    call_sid, caller = _sid("CallSid", form), _param("From", 60, form)
    if not call_sid:
        abort(400, "CallSid is required")
    return call_sid, caller


def _open(work: Work, call: tuple[str, str]) -> intake.IncomingCall:
    call_sid, caller = call
    return intake.open_voice_request(
        work.session,
        call_sid=call_sid,
        caller=caller,
        now=work.now,
        actor=work.actor,
        policy=work.policy,
    )


def _greet(_call: object, opened: intake.IncomingCall) -> Response:
    advice, officer = opened.request, opened.officer
    if opened.joined and advice.status != RequestStatus.RECEIVED:
        return _join_officer(advice, intake.joined_greeting(advice))
    if officer is not None:
        greeting = f"Advice Line. Hello {officer.name or officer.collar_number}."
    else:
        greeting = "Advice Line, for police officers needing mental-health advice."
    return _ask(advice, intake.steps_for(advice)[0], attempt=1, preface=greeting)


#: While the database is down the officer is put through to the fallback number, and the
#: call is kept: when it is back the call becomes a request, which its status callback
#: (kept too) marks abandoned with a call-back task, so someone checks the officer was helped.
INCOMING_CALL = spoolable(
    Spoolable(
        endpoint="twilio.incoming_call",
        fields=("CallSid", "From"),
        parse=_call,
        apply=_open,
        answer=_greet,
        kept=lambda: _xml(twiml.fallback(current_app.config["FALLBACK_NUMBER"])),
        conversation=lambda call: call[0],
    )
)


@bp.post("/voice")
@voice
def incoming_call() -> Response:
    """An officer rings the line: identify them, then ask the key questions."""
    return receive(INCOMING_CALL)


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
    """One answer during intake; silence or nonsense asks again, then leaves it unanswered
    (an unanswered risk question ranks as risk to life: the safe default)."""
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

    def answered(work: Work) -> Response:
        # Read afresh under the row lock: another call from the same number (joined to this
        # request) may have finished the questions meanwhile; this one then joins it.
        request_for_update(work.session, advice.id)
        if advice.status != RequestStatus.RECEIVED:
            return _join_officer(advice, intake.joined_greeting(advice))
        intake.record_step(work.session, advice, current, answer, now=work.now, actor=work.actor)
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
            recording_url=recordings.recording_url(advice),
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
