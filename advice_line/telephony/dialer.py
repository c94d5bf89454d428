"""Phone calls the line places itself, in answer to domain signals.

- An offer to a clinician who is not at a console rings their phone with a whisper.
- A voice request accepted at a console rings the clinician into the conference: their
  browser if it can take calls, else their phone (``browser_phone``).
- A request whose officer asked for a call-back (or an SMS request taken by phone) rings
  the officer into the conference once a clinician has taken it.
- A request that escalates with no senior at a console rings the on-call seniors.
Each call is an outbox row written in the signal's transaction (``outbox.enqueue``) and
placed once committed; what follows a placed call or a refusal is here (``DELIVERIES``).
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
from advice_line.jobs import after_commit
from advice_line.lifecycle import FINISHED
from advice_line.lifecycle.errors import DomainError
from advice_line.models import (
    ENDED_CALL_STATUSES,
    OPEN_STATES,
    AdviceRequest,
    CallLeg,
    Channel,
    Clinician,
    LegRole,
    Offer,
    OfferOutcome,
    OutboxItem,
    OutboxKind,
    OutboxPurpose,
    RequestStatus,
)
from advice_line.routing import views
from advice_line.telephony import browser_phone, legs, outbox
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
        outbox.enqueue(
            session,
            OutboxPurpose.OFFER,
            request_id=offer.request_id,
            to=clinician.phone,
            url=webhook_url("twilio.whisper", offer_id=offer.id),
            offer_id=offer.id,
            clinician_id=clinician.id,
        )
    elif action in {OfferOutcome.TIMED_OUT, OfferOutcome.RESCINDED}:
        for leg in session.scalars(select(CallLeg).where(CallLeg.offer_id == offer.id)):
            if leg.status not in ENDED_CALL_STATUSES and leg.joined_at is None:
                after_commit(session, functools.partial(stop_ringing, leg.call_sid))


def on_request_changed(request: AdviceRequest, action: str, **_: Any) -> None:
    """Connect the people once a clinician has taken a request; hang up on a nuisance."""
    session = object_session(request)
    if action == "nuisance" and session is not None:
        hang_up_officer(session, request)
    if action not in {"accepted", "called_back"} or session is None:
        return
    offer = session.scalars(
        select(Offer).where(Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED)
    ).one()
    clinician = session.get_one(Clinician, offer.clinician_id)
    on_phone = legs.clinician_on_phone(session, request.id, clinician.id)
    call_back = request.call_back_requested_at is not None
    by_message = request.channel != Channel.VOICE
    if (call_back or (by_message and on_phone)) and request.caller_number:
        ring_officer_back(session, request.id, request.caller_number)
    elif by_message or not legs.officer_on_line(session, request.id):
        return
    if not on_phone:
        browser_phone.ring_clinician_in(session, request.id, clinician)


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


def ring_officer_back(session: Session, request_id: int, number: str) -> None:
    """Call the officer back into the request's conference, once committed."""
    outbox.enqueue(
        session,
        OutboxPurpose.OFFICER_BACK,
        request_id=request_id,
        to=number,
        url=webhook_url("twilio.officer_called_back", request_id=request_id),
    )


def officer_being_called(session: Session, request_id: int) -> bool:
    """Whether the officer is on the line, or a call back to them is on its way."""
    on_its_way = select(OutboxItem.id).where(
        OutboxItem.request_id == request_id,
        OutboxItem.purpose == OutboxPurpose.OFFICER_BACK,
        OutboxItem.state.in_(OPEN_STATES),
    )
    return legs.officer_on_line(session, request_id) or (
        session.scalar(on_its_way.limit(1)) is not None
    )


def stop_ringing(call_sid: str) -> None:
    """Hang up a call: a whisper whose offer has gone, a nuisance caller (best effort)."""
    try:
        gateway().end_call(call_sid)
    except GatewayError as error:
        log.info("could not stop the call %s: Twilio error %s", call_sid, error.code)


def _open_offer(session: Session, item: OutboxItem) -> bool:
    return session.get_one(Offer, item.offer_id).outcome is None


def _offer_placed(session: Session, item: OutboxItem, sid: str) -> None:
    offer = session.get_one(Offer, item.offer_id)
    legs.add_placed_leg(
        session,
        call_sid=sid,
        request_id=offer.request_id,
        clinician_id=offer.clinician_id,
        offer_id=offer.id,
        number=item.payload["to"],
        now=utcnow(),
    )
    if offer.outcome is not None:  # withdrawn while the call was being placed
        after_commit(session, functools.partial(stop_ringing, sid))


def _offer_given_up(session: Session, item: OutboxItem, _error: str) -> None:
    offer = session.get_one(Offer, item.offer_id)
    if offer.outcome is None:
        lifecycle.decline_offer(session, offer.id, offer.clinician_id, now=utcnow(), actor=ACTOR)


def _still_theirs(session: Session, item: OutboxItem) -> bool:
    request = session.get_one(AdviceRequest, item.request_id)
    taker = session.scalars(
        select(Offer.clinician_id).where(
            Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED
        )
    ).one_or_none()
    assert item.clinician_id is not None
    return (
        request.status == RequestStatus.ACCEPTED
        and taker == item.clinician_id
        and not legs.clinician_on_phone(session, request.id, item.clinician_id)
    )


def _connection_given_up(session: Session, item: OutboxItem, _error: str) -> None:
    assert item.clinician_id is not None
    clinician = session.get_one(Clinician, item.clinician_id)
    if item.payload["to"].startswith(browser_phone.CLIENT) and clinician.phone:
        browser_phone.ring_clinician_in(session, item.request_id, clinician, phone_only=True)
        return
    try:
        with session.begin_nested():
            lifecycle.fail_connection(
                session, item.request_id, now=utcnow(), actor=ACTOR, policy=current_policy()
            )
    except DomainError:
        log.info("request %s moved on before the clinician could be rung", item.request_id)


def _not_ended(session: Session, item: OutboxItem) -> bool:
    return session.get_one(AdviceRequest, item.request_id).status not in FINISHED


def _officer_given_up(_session: Session, item: OutboxItem, error: str) -> None:
    log.warning("could not call the officer back on request %s: %s", item.request_id, error)


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
    for clinician_id, phone in phones:
        outbox.enqueue(
            session,
            OutboxPurpose.SENIOR_ALERT,
            request_id=request.id,
            to=phone,
            url=webhook_url("twilio.senior_alert", request_id=request.id),
            clinician_id=clinician_id,
        )


def _still_waiting(session: Session, item: OutboxItem) -> bool:
    return session.get_one(AdviceRequest, item.request_id).status in lifecycle.WAITING


def _senior_reached(session: Session, item: OutboxItem, how: str) -> None:
    record_event(
        session,
        ACTOR,
        "request.seniors_alerted",
        now=utcnow(),
        request_id=item.request_id,
        subject=("advice_request", item.request_id),
        detail={"seniors": {str(item.clinician_id): how}},
    )


def _senior_alerted(session: Session, item: OutboxItem, _sid: str) -> None:
    _senior_reached(session, item, "rung" if item.kind == OutboxKind.CALL else "texted")


def _senior_not_rung(session: Session, item: OutboxItem, _error: str) -> None:
    """A call that failed becomes a text; a text that failed is audited as not reached."""
    if item.kind == OutboxKind.MESSAGE:
        log.warning("could not reach senior %s on request %s", item.clinician_id, item.request_id)
        _senior_reached(session, item, "not reached")
        return
    reference = session.get_one(AdviceRequest, item.request_id).reference
    outbox.enqueue(
        session,
        OutboxPurpose.SENIOR_ALERT,
        request_id=item.request_id,
        to=item.payload["to"],
        body=senior_alert_text(reference),
        clinician_id=item.clinician_id,
    )


def senior_alert_text(reference: str) -> str:
    """What an on-call senior is told when a request escalates with no senior at a console."""
    return (
        f"Advice Line alert: request {reference} is waiting and no clinician has taken it. "
        "Please open the console now."
    )


DELIVERIES = {
    OutboxPurpose.OFFER: outbox.Delivery(_open_offer, _offer_placed, _offer_given_up),
    OutboxPurpose.CLINICIAN_IN: outbox.Delivery(
        _still_theirs, legs.leg_placed, _connection_given_up
    ),
    OutboxPurpose.OFFICER_BACK: outbox.Delivery(_not_ended, legs.leg_placed, _officer_given_up),
    OutboxPurpose.SENIOR_ALERT: outbox.Delivery(_still_waiting, _senior_alerted, _senior_not_rung),
}
