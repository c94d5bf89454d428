"""The clinician's phone: the whisper, the conference, a third party, a senior's call and alert."""

from __future__ import annotations

from flask import Response, abort, request

from advice_line import lifecycle
from advice_line.extensions import db
from advice_line.models import (
    AdviceRequest,
    Channel,
    Offer,
    OutboxPurpose,
    RequestStatus,
    Standing,
)
from advice_line.routing import views
from advice_line.telephony import conference, dialer, legs, recordings, twiml
from advice_line.telephony.urls import webhook_url
from advice_line.telephony.webhooks import (
    _actor,
    _sid,
    _waiting_request,
    _xml,
    bp,
    voice,
)
from advice_line.transaction import Work, run

#: The largest row id (PostgreSQL's integer): a larger ``?item=`` names no row.
MAX_ID = 2**31 - 1


def _summary(advice: AdviceRequest) -> str:
    who = f"a caller: {views.STANDING_LABELS[Standing(advice.standing)] or 'unverified'}"
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
    return _xml(
        twiml.join_as_clinician(
            advice.reference, f"{preface} {_summary(advice)}", recordings.recording_url(advice)
        )
    )


@bp.post("/voice/clinician/<int:request_id>")
@voice
def clinician_answered(request_id: int) -> Response:
    """A clinician who accepted at the console answered their phone: into the conference."""
    _waiting_request(request_id)
    return run(
        lambda work: _clinician_joins(work, request_id, "Connecting you to the officer."),
        _actor(),
    )


def _item() -> int | None:
    """The outbox row that placed this call, as the webhook's URL names it (``?item=``)."""
    item = request.args.get("item", type=int)
    return item if item is not None and 0 < item <= MAX_ID else None


@bp.post("/voice/third-party/<int:request_id>/<int:private>")
@voice
def third_party_answered(request_id: int, private: int) -> Response:
    """Someone the holder brought in answered: into the conference (the officer held if private)."""
    _waiting_request(request_id)

    def joins(work: Work) -> Response:
        advice = conference.third_party_joins(
            work.session, request_id, _sid("CallSid"), private=bool(private), item_id=_item()
        )
        if advice is None:
            return _xml(twiml.goodbye("This call has ended. Thank you."))
        heard = (
            "You are speaking with the clinician only; the officer is on hold."
            if private
            else "The officer can hear you."
        )
        return _xml(
            twiml.join_as_third_party(
                advice.reference,
                f"Advice Line. A clinician is bringing you into a call about request "
                f"{advice.reference}. {heard}",
            )
        )

    return run(joins, _actor())


@bp.post("/voice/supervisor/<int:request_id>")
@voice
def supervisor_answered(request_id: int) -> Response:
    """A senior's phone answered: into the conference, muted, to listen."""
    _waiting_request(request_id)

    def joins(work: Work) -> Response:
        legs.answered_leg(
            work.session,
            _sid("CallSid"),
            item_id=_item(),
            request_id=request_id,
            purpose=OutboxPurpose.SUPERVISOR,
        )
        leg = lifecycle.supervisor_answered(
            work.session, request_id, _sid("CallSid"), now=work.now, actor=work.actor
        )
        advice = work.session.get_one(AdviceRequest, request_id)
        if leg is None or advice.status != RequestStatus.CONNECTED:
            return _xml(twiml.goodbye("This call has ended."))
        return _xml(
            twiml.join_as_supervisor(
                advice.reference,
                f"Advice Line. You are listening to request {advice.reference}, muted: "
                "no one can hear you. Coach or join from the floor.",
            )
        )

    return run(joins, _actor())


@bp.post("/voice/senior-alert/<int:request_id>")
@voice
def senior_alert(request_id: int) -> Response:
    """What an on-call senior hears when rung about an escalated request."""
    advice = _waiting_request(request_id)
    return _xml(twiml.goodbye(f"{dialer.senior_alert_text(advice.reference)} Goodbye."))
