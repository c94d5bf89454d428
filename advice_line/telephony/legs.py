"""Call legs: the calls the line places, the status callbacks, who is still on the line.

Like the lifecycle, these flush and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.clock import utcnow
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    ENDED_CALL_STATUSES,
    AdviceRequest,
    CallLeg,
    CallStatus,
    Clinician,
    LegRole,
    Offer,
    OfferOutcome,
    OutboxItem,
    OutboxKind,
    OutboxPurpose,
    OutboxState,
    RequestStatus,
    Supervision,
)
from advice_line.telephony import browser_phone

CALL_STATUS_ORDER = list(CallStatus)
ANSWERED = CALL_STATUS_ORDER.index(CallStatus.IN_PROGRESS)


@dataclass(frozen=True)
class LegEvent:
    """One status callback from Twilio."""

    call_sid: str
    status: CallStatus
    sequence: int | None


def apply_leg_event(
    session: Session, event: LegEvent, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> str:
    """Apply a status callback once, whatever the order or repetition; say what it did."""
    leg = session.scalars(
        select(CallLeg).where(CallLeg.call_sid == event.call_sid).with_for_update()
    ).one_or_none()
    if leg is None:
        return "unknown call"
    if leg.status in ENDED_CALL_STATUSES:
        return "call already ended"
    stale = (
        event.sequence <= leg.last_sequence
        if event.sequence is not None
        else CALL_STATUS_ORDER.index(event.status) <= CALL_STATUS_ORDER.index(leg.status)
    )
    if stale and event.status not in ENDED_CALL_STATUSES:
        return "stale event"
    leg.status = event.status
    leg.last_sequence = max(leg.last_sequence, event.sequence if event.sequence is not None else -1)
    if event.status not in ENDED_CALL_STATUSES:
        session.flush()
        return "noted"
    leg.ended_at = now
    session.flush()
    if leg.role == LegRole.THIRD_PARTY:
        return lifecycle.third_party_left(session, leg, now=now, actor=actor)
    if leg.role == LegRole.SUPERVISOR:
        return lifecycle.supervisor_left(session, leg, now=now, actor=actor)
    if leg.role == LegRole.OFFICER:
        return _officer_left(session, leg, now=now, actor=actor, policy=policy)
    return _clinician_left(session, leg, now=now, actor=actor, policy=policy)


def _officer_left(
    session: Session, leg: CallLeg, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> str:
    request = session.get_one(AdviceRequest, leg.request_id)
    if officer_on_line(session, request.id):
        return "another call from the officer is still on the line"
    if request.status == RequestStatus.CONNECTED:
        lifecycle.end_call(session, request.id, now=now, actor=actor)
        return "call ended: wrap-up"
    waiting = request.status in (lifecycle.WAITING | {RequestStatus.RECEIVED})
    if waiting and request.call_back_requested_at is not None:
        return "officer waits for a call-back"
    if waiting or request.status == RequestStatus.ACCEPTED:
        lifecycle.abandon(session, request.id, now=now, actor=actor, policy=policy)
        return "abandoned: call-back task"
    return "nothing to do"


def _clinician_left(
    session: Session, leg: CallLeg, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> str:
    # Locked first: an offer is withdrawn or accepted only under its request's lock.
    request = session.get_one(
        AdviceRequest, leg.request_id, with_for_update=True, populate_existing=True
    )
    offer = session.get(Offer, leg.offer_id, populate_existing=True) if leg.offer_id else None
    if offer is not None and offer.outcome is None:
        lifecycle.decline_offer(session, offer.id, offer.clinician_id, now=now, actor=actor)
        return "offer not accepted: passed on"
    if not _the_takers_leg(session, request, leg):
        return "not the taker's call: only the call ended"
    if request.status == RequestStatus.ACCEPTED and leg.joined_at is None:
        clinician = session.get_one(Clinician, leg.clinician_id)
        if browser_phone.rings_browser(leg) and clinician.phone:
            browser_phone.ring_clinician_in(session, request.id, clinician, phone_only=True)
            record_event(
                session,
                actor,
                "request.browser_not_answered",
                now=now,
                request_id=request.id,
                subject=("clinician", clinician.id),
                detail={"call": leg.status.value},
            )
            return "browser did not answer: ringing the phone"
        lifecycle.fail_connection(session, request.id, now=now, actor=actor, policy=policy)
        return "clinician not reached: requeued"
    if request.status == RequestStatus.CONNECTED:
        lifecycle.end_call(session, request.id, now=now, actor=actor)
        return "call ended: wrap-up"
    return "nothing to do"


def _the_takers_leg(session: Session, request: AdviceRequest, leg: CallLeg) -> bool:
    """Whether the leg is the taker's: the whisper of the accepted offer, or their own call.

    Any other clinician leg (an offer withdrawn, declined, timed out or failed) speaks
    only for itself: its end must not move the request someone else holds.
    """
    taken = session.scalars(
        select(Offer).where(Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED)
    ).one_or_none()
    if taken is None:
        return False
    if leg.offer_id is not None:
        return leg.offer_id == taken.id
    return leg.clinician_id == taken.clinician_id


def add_placed_leg(
    session: Session,
    *,
    call_sid: str,
    request_id: int,
    number: str,
    now: datetime,
    clinician_id: int | None = None,
    offer_id: int | None = None,
    role: LegRole | None = None,
    label: str | None = None,
    private: bool = False,
    supervision: Supervision | None = None,
) -> CallLeg:
    """Record a call the line placed: to a clinician, the officer, a third party, a senior."""
    leg = CallLeg(
        call_sid=call_sid,
        request_id=request_id,
        role=role or (LegRole.OFFICER if clinician_id is None else LegRole.CLINICIAN),
        label=label,
        private=private,
        supervision=supervision,
        clinician_id=clinician_id,
        offer_id=offer_id,
        number=number,
        status=CallStatus.QUEUED,
        created_at=now,
    )
    session.add(leg)
    session.flush()
    return leg


def leg_placed(session: Session, item: OutboxItem, sid: str) -> CallLeg:
    """Record an outbox row's call once placed, as its payload's ``leg`` describes it.

    Once only: the call's answered webhook may have recorded it first (``answered_leg``).
    """
    known = session.scalars(select(CallLeg).where(CallLeg.call_sid == sid)).one_or_none()
    if known is not None:
        return known
    about = item.payload.get("leg", {})
    return add_placed_leg(
        session,
        call_sid=sid,
        request_id=item.request_id,
        clinician_id=item.clinician_id,
        number=item.payload["to"],
        now=utcnow(),
        role=LegRole(about["role"]) if "role" in about else None,
        label=about.get("label"),
        private=about.get("private", False),
        supervision=Supervision.LISTEN if about.get("role") == LegRole.SUPERVISOR else None,
    )


def answered_leg(
    session: Session, call_sid: str, *, item_id: int | None, request_id: int, purpose: OutboxPurpose
) -> CallLeg | None:
    """The leg of a call the line placed that has answered, marked in progress.

    If its webhook comes before the outbox has recorded the call (the outbox places the
    call, then records it), it is recorded here from the outbox row ``item_id`` named in
    the webhook's URL: under the row's lock, as the outbox records it, so once either way.
    """
    item = session.get(OutboxItem, item_id, with_for_update=True) if item_id else None
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == call_sid)).one_or_none()
    if leg is None and item is not None and _placing(item, call_sid, request_id, purpose):
        leg = leg_placed(session, item, call_sid)
    if leg is not None and CALL_STATUS_ORDER.index(leg.status) < ANSWERED:
        leg.status = CallStatus.IN_PROGRESS
        session.flush()
    return leg


def _placing(item: OutboxItem, call_sid: str, request_id: int, purpose: OutboxPurpose) -> bool:
    """Whether ``call_sid`` may be the call this outbox row is placing (or placed)."""
    return (
        item.request_id == request_id
        and item.purpose == purpose
        and item.kind == OutboxKind.CALL
        and item.state in (OutboxState.SENDING, OutboxState.SENT)
        and item.twilio_sid in (None, call_sid)
    )


def leg_joined(session: Session, call_sid: str, *, now: datetime) -> CallLeg | None:
    """Note that a leg reached the conference."""
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == call_sid)).one_or_none()
    if leg is not None and leg.joined_at is None:
        leg.joined_at = now
        session.flush()
    return leg


def officer_on_line(session: Session, request_id: int) -> bool:
    """Return whether the officer's call is still live."""
    legs = session.scalars(
        select(CallLeg.status).where(
            CallLeg.request_id == request_id, CallLeg.role == LegRole.OFFICER
        )
    ).all()
    return any(status not in ENDED_CALL_STATUSES for status in legs)


def clinician_on_phone(session: Session, request_id: int, clinician_id: int) -> bool:
    """Return whether the clinician's phone is still in a call about the request."""
    legs = session.scalars(
        select(CallLeg.status).where(
            CallLeg.request_id == request_id, CallLeg.clinician_id == clinician_id
        )
    ).all()
    return any(status not in ENDED_CALL_STATUSES for status in legs)
