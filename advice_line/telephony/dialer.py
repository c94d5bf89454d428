"""Phone calls the line places itself, in answer to domain signals, after the commit.

- An offer to a clinician who is not at a console rings their phone with a whisper.
- A voice request accepted at a console rings the clinician's phone into the conference.
- A request whose officer asked for a call-back (or an SMS request taken by phone) rings
  the officer into the conference once a clinician has taken it.
Any refusal from Twilio passes the request on; it is never lost.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from flask import has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.jobs import after_commit
from advice_line.lifecycle.errors import DomainError
from advice_line.models import (
    ENDED_CALL_STATUSES,
    AdviceRequest,
    CallLeg,
    Channel,
    Clinician,
    LegRole,
    Offer,
    OfferOutcome,
)
from advice_line.routing import views
from advice_line.telephony import legs
from advice_line.telephony.gateway import gateway
from advice_line.telephony.protocol import GatewayError
from advice_line.telephony.urls import webhook_url
from advice_line.transaction import current_policy

log = logging.getLogger(__name__)
ACTOR = Actor("telephony")


def on_offer_changed(offer: Offer, action: str, **_: Any) -> None:
    """Ring a phone-only clinician with a new offer; stop ringing when it is withdrawn."""
    session = object_session(offer)
    if session is None:
        return
    clinician = offer.clinician
    if action == "offered" and clinician.phone and not clinician.on_console:
        offer_id, number = offer.id, clinician.phone
        after_commit(session, lambda: ring_for_offer(offer_id, number))
    elif action in {OfferOutcome.TIMED_OUT, OfferOutcome.RESCINDED}:
        for leg in session.scalars(select(CallLeg).where(CallLeg.offer_id == offer.id)):
            if leg.status not in ENDED_CALL_STATUSES and leg.joined_at is None:
                after_commit(session, functools.partial(stop_ringing, leg.call_sid))


def on_request_changed(request: AdviceRequest, action: str, **_: Any) -> None:
    """Connect the people once a clinician has taken a request; hang up on a nuisance."""
    session = object_session(request)
    if action == "nuisance" and session is not None:
        hang_up_officer(session, request)
    if action != "accepted" or session is None:
        return
    offer = session.scalars(
        select(Offer).where(Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED)
    ).one()
    clinician = session.get_one(Clinician, offer.clinician_id)
    request_id, clinician_id = request.id, clinician.id
    on_phone = legs.clinician_on_phone(session, request.id, clinician.id)
    call_back = request.call_back_requested_at is not None
    by_message = request.channel != Channel.VOICE
    if (call_back or (by_message and on_phone)) and request.caller_number:
        officer_number = request.caller_number
        after_commit(session, lambda: ring_officer(request_id, officer_number))
    elif by_message or not legs.officer_on_line(session, request.id):
        return
    if clinician.phone and not on_phone:
        number = clinician.phone
        after_commit(session, lambda: ring_clinician_in(request_id, clinician_id, number))


def hang_up_officer(session: Session, request: AdviceRequest) -> None:
    """End the officer's live calls on the request once the change commits."""
    live = session.scalars(
        select(CallLeg.call_sid).where(
            CallLeg.request_id == request.id,
            CallLeg.role == LegRole.OFFICER,
            CallLeg.status.not_in(ENDED_CALL_STATUSES),
        )
    )
    for call_sid in live:
        after_commit(session, functools.partial(stop_ringing, call_sid))


def ring_for_offer(offer_id: int, number: str) -> None:
    """Ring an on-call clinician with the offer; if Twilio refuses, pass the request on."""
    try:
        placed = gateway().place_call(number, webhook_url("twilio.whisper", offer_id=offer_id))
    except GatewayError:
        with Session(db.engine) as session, session.begin():
            offer = session.get_one(Offer, offer_id)
            if offer.outcome is None:
                lifecycle.decline_offer(
                    session, offer.id, offer.clinician_id, now=utcnow(), actor=ACTOR
                )
        return
    with Session(db.engine) as session, session.begin():
        offer = session.get_one(Offer, offer_id)
        legs.add_placed_leg(
            session,
            call_sid=placed.sid,
            request_id=offer.request_id,
            clinician_id=offer.clinician_id,
            offer_id=offer.id,
            number=number,
            now=utcnow(),
        )


def stop_ringing(call_sid: str) -> None:
    """Hang up a call: a whisper whose offer has gone, a nuisance caller (best effort)."""
    try:
        gateway().end_call(call_sid)
    except GatewayError as error:
        log.info("could not stop the call %s: Twilio error %s", call_sid, error.code)


def ring_clinician_in(request_id: int, clinician_id: int, number: str) -> None:
    """Ring the accepting clinician into the conference; if refused, re-queue."""
    try:
        placed = gateway().place_call(
            number, webhook_url("twilio.clinician_answered", request_id=request_id)
        )
    except GatewayError:
        with Session(db.engine) as session, session.begin():
            try:
                lifecycle.fail_connection(
                    session, request_id, now=utcnow(), actor=ACTOR, policy=current_policy()
                )
            except DomainError:
                log.info("request %s moved on before the clinician could be rung", request_id)
        return
    with Session(db.engine) as session, session.begin():
        legs.add_placed_leg(
            session,
            call_sid=placed.sid,
            request_id=request_id,
            clinician_id=clinician_id,
            offer_id=None,
            number=number,
            now=utcnow(),
        )


def ring_officer(request_id: int, number: str) -> None:
    """Call the officer back into the request's conference."""
    try:
        placed = gateway().place_call(
            number, webhook_url("twilio.officer_called_back", request_id=request_id)
        )
    except GatewayError as error:
        log.warning(
            "could not call the officer back on request %s: Twilio error %s", request_id, error.code
        )
        return
    with Session(db.engine) as session, session.begin():
        legs.add_placed_leg(
            session, call_sid=placed.sid, request_id=request_id, number=number, now=utcnow()
        )


def on_senior_alert(request: AdviceRequest, **_: Any) -> None:
    """No senior clinician at a console when a request escalates: ring the on-call seniors."""
    session = object_session(request)
    if session is None or not has_app_context():
        return
    seniors = views.seniors_on_shift(session, utcnow())
    if any(at_console for _, _, at_console in seniors):
        return  # they see the alert on the floor
    phones = [(clinician_id, phone) for clinician_id, phone, _ in seniors if phone]
    if not phones:
        log.warning("request %s escalated and no senior clinician is on shift", request.id)
        return
    request_id = request.id
    after_commit(session, lambda: alert_seniors(request_id, phones))


def alert_seniors(request_id: int, phones: list[tuple[int, str]]) -> None:
    """Ring each on-call senior with the alert; text whoever cannot be rung; audit it."""
    reached: dict[str, str] = {}
    with Session(db.engine) as session:
        reference = session.get_one(AdviceRequest, request_id).reference
    for clinician_id, phone in phones:
        try:
            gateway().place_call(phone, webhook_url("twilio.senior_alert", request_id=request_id))
            reached[str(clinician_id)] = "rung"
        except GatewayError:
            try:
                gateway().send_message(phone, senior_alert_text(reference))
                reached[str(clinician_id)] = "texted"
            except GatewayError as error:
                log.warning("could not reach senior %s: Twilio error %s", clinician_id, error.code)
                reached[str(clinician_id)] = "not reached"
    with Session(db.engine) as session, session.begin():
        record_event(
            session,
            ACTOR,
            "request.seniors_alerted",
            now=utcnow(),
            request_id=request_id,
            subject=("advice_request", request_id),
            detail={"seniors": reached},
        )


def senior_alert_text(reference: str) -> str:
    """What an on-call senior is told when a request escalates with no senior at a console."""
    return (
        f"Advice Line alert: request {reference} is waiting and no clinician has taken it. "
        "Please open the console now."
    )
