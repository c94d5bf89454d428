"""Bringing someone into a call: ring a third party, speak together, drop them, hand over.

Only the clinician who holds a connected voice request acts here. The third party's call
is a call leg of its own (``LegRole.THIRD_PARTY``); the telephony layer places it and
holds or releases the officer after each step commits (``signals.conference_changed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import require_qualifying
from advice_line.lifecycle.steps import (
    accepted_at_once,
    accepted_offer,
    audit_request,
    change_clinician_status,
    clinician_for_update,
    end_offer,
    request_for_update,
)
from advice_line.models import (
    ENDED_CALL_STATUSES,
    OPEN_STATES,
    AdviceRequest,
    CallLeg,
    CallStatus,
    ClinicianStatus,
    LegRole,
    Offer,
    OfferOutcome,
    OutboxItem,
    OutboxPurpose,
    RequestStatus,
)


@dataclass(frozen=True)
class ThirdParty:
    """Who to bring in: a clinician of the line (by id) or a directory entry (label, number)."""

    clinician_id: int | None = None
    label: str = ""
    number: str = ""


def _held_call(session: Session, request_id: int, clinician_id: int) -> tuple[AdviceRequest, Offer]:
    """Lock the request; refuse unless ``clinician_id`` holds it and the officer is on the call."""
    request = request_for_update(session, request_id)
    if request.status != RequestStatus.CONNECTED:
        raise IllegalTransition(f"Request {request.reference} is not on a call.")
    taken = accepted_offer(session, request)
    if taken.clinician_id != clinician_id:
        raise IllegalTransition(f"Only the clinician who holds {request.reference} can do this.")
    if live_leg(session, request.id, LegRole.OFFICER) is None:
        raise IllegalTransition(f"The officer is not on the phone on {request.reference}.")
    return request, taken


def live_leg(
    session: Session,
    request_id: int,
    role: LegRole = LegRole.THIRD_PARTY,
    clinician_id: int | None = None,
) -> CallLeg | None:
    """The request's call of this role (and clinician) that has not ended, if any."""
    query = select(CallLeg).where(
        CallLeg.request_id == request_id,
        CallLeg.role == role,
        CallLeg.status.not_in(ENDED_CALL_STATUSES),
    )
    if clinician_id is not None:
        query = query.where(CallLeg.clinician_id == clinician_id)
    return session.scalars(query).first()


def on_its_way(session: Session, request_id: int, purpose: OutboxPurpose) -> bool:
    """Whether a call of this purpose is still to be placed for the request."""
    return (
        session.scalar(
            select(OutboxItem.id)
            .where(
                OutboxItem.request_id == request_id,
                OutboxItem.purpose == purpose,
                OutboxItem.state.in_(OPEN_STATES),
            )
            .limit(1)
        )
        is not None
    )


def _answered_third_party(session: Session, request: AdviceRequest) -> CallLeg:
    leg = live_leg(session, request.id)
    if leg is None:
        raise IllegalTransition(f"No one else is on the call on {request.reference}.")
    if leg.joined_at is None or leg.status != CallStatus.IN_PROGRESS:
        raise IllegalTransition(f"{leg.label} has not answered yet.")
    return leg


def bring_in(
    session: Session,
    request_id: int,
    clinician_id: int,
    third_party: ThirdParty,
    *,
    private: bool,
    now: datetime,
    actor: Actor,
) -> AdviceRequest:
    """Ring a third party into the holder's call: privately (the officer on hold) or together."""
    request, _ = _held_call(session, request_id, clinician_id)
    if live_leg(session, request.id) or on_its_way(session, request.id, OutboxPurpose.THIRD_PARTY):
        raise IllegalTransition(
            f"Someone else is already on the call on {request.reference}: drop them first."
        )
    number, label, colleague = third_party.number, third_party.label, None
    if third_party.clinician_id is not None:
        if third_party.clinician_id == clinician_id:
            raise InvalidInput({"third_party": "You are already on the call."})
        colleague = clinician_for_update(session, third_party.clinician_id)
        if colleague.status != ClinicianStatus.AVAILABLE:
            raise IllegalTransition(
                f"{colleague.user.display_name} is {colleague.status.value.replace('_', ' ')}, "
                "not available."
            )
        if not colleague.phone:
            raise IllegalTransition(f"{colleague.user.display_name} has no phone number.")
        number, label = colleague.phone, colleague.user.display_name
    if not number or not label:
        raise InvalidInput({"third_party": "Choose a clinician or a directory entry."})
    if colleague is not None:  # offered nothing else while on the call
        change_clinician_status(session, colleague, ClinicianStatus.ON_CALL, now=now, actor=actor)
    audit_request(
        session,
        request,
        "third_party_called",
        now=now,
        actor=actor,
        label=label,
        clinician_id=third_party.clinician_id,
        private=private,
    )
    signals.conference_changed.send(
        request,
        action="bring_in",
        number=number,
        label=label,
        clinician_id=third_party.clinician_id,
        private=private,
    )
    return request


def speak_together(
    session: Session, request_id: int, clinician_id: int, *, now: datetime, actor: Actor
) -> CallLeg:
    """End the private consultation: the officer comes off hold and all three speak."""
    request, _ = _held_call(session, request_id, clinician_id)
    leg = _answered_third_party(session, request)
    if not leg.private:
        raise IllegalTransition(f"{leg.label} is already speaking with the officer.")
    leg.private = False
    audit_request(session, request, "third_party_together", now=now, actor=actor, label=leg.label)
    signals.conference_changed.send(request, action="together", leg=leg)
    return leg


def _release(session: Session, clinician_id: int | None, *, now: datetime, actor: Actor) -> None:
    """A clinician brought in is free again once they are off the call."""
    if clinician_id is None:
        return
    colleague = clinician_for_update(session, clinician_id)
    if colleague.status == ClinicianStatus.ON_CALL:
        change_clinician_status(session, colleague, ClinicianStatus.AVAILABLE, now=now, actor=actor)


def drop_third_party(
    session: Session, request_id: int, clinician_id: int, *, now: datetime, actor: Actor
) -> CallLeg:
    """Hang up on the third party (ringing or answered); the officer comes off hold."""
    request, _ = _held_call(session, request_id, clinician_id)
    leg = live_leg(session, request.id)
    if leg is None:
        raise IllegalTransition(f"No one else is on the call on {request.reference}.")
    leg.private = False
    _release(session, leg.clinician_id, now=now, actor=actor)
    audit_request(session, request, "third_party_dropped", now=now, actor=actor, label=leg.label)
    signals.conference_changed.send(request, action="drop", leg=leg)
    return leg


def third_party_left(session: Session, leg: CallLeg, *, now: datetime, actor: Actor) -> str:
    """The third party's call ended (a status callback): free them, take the officer off hold."""
    request = session.get_one(AdviceRequest, leg.request_id)
    leg.private = False
    _release(session, leg.clinician_id, now=now, actor=actor)
    audit_request(session, request, "third_party_left", now=now, actor=actor, label=leg.label)
    signals.conference_changed.send(request, action="left", leg=leg)
    return "third party left"


def third_party_not_reached(
    session: Session,
    request_id: int,
    label: str,
    clinician_id: int | None,
    *,
    now: datetime,
    actor: Actor,
) -> None:
    """The line could not ring the third party at all: note it and free the clinician."""
    request = session.get_one(AdviceRequest, request_id)
    _release(session, clinician_id, now=now, actor=actor)
    audit_request(session, request, "third_party_not_reached", now=now, actor=actor, label=label)


def hand_over(
    session: Session,
    request_id: int,
    clinician_id: int,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Offer:
    """Hand the call to the clinician brought in: they hold the request, the taker leaves."""
    request, taken = _held_call(session, request_id, clinician_id)
    leg = _answered_third_party(session, request)
    if leg.clinician_id is None:
        raise IllegalTransition(
            f"{leg.label} is not a clinician of the line: the call can only be handed to one."
        )
    successor = clinician_for_update(session, leg.clinician_id)
    require_qualifying(successor, policy, now=now)
    holder = clinician_for_update(session, clinician_id)
    end_offer(session, taken, OfferOutcome.HANDED_OVER, now=now, actor=actor)
    handed = accepted_at_once(session, request, successor, now=now)
    leg.role, leg.private = LegRole.CLINICIAN, False
    change_clinician_status(session, holder, ClinicianStatus.AVAILABLE, now=now, actor=actor)
    audit_request(
        session,
        request,
        "handed_over",
        now=now,
        actor=actor,
        clinician_id=successor.id,
        from_clinician_id=holder.id,
        offer_id=handed.id,
    )
    signals.conference_changed.send(request, action="handed_over", leg=leg, previous=holder.id)
    return handed
