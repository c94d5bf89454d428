"""A senior on a live call: listen unheard, coach the clinician, join, stop.

Any senior clinician may supervise any connected voice call but their own, one senior at
a time. Their call is a call leg of role ``SUPERVISOR``; the telephony layer rings it,
then mutes it or lets it coach or speak after each step commits
(``signals.conference_changed``), and the request's page tells the clinician.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor
from advice_line.lifecycle import signals
from advice_line.lifecycle.conference import live_leg, on_its_way
from advice_line.lifecycle.errors import IllegalTransition
from advice_line.lifecycle.steps import (
    accepted_offer,
    audit_request,
    clinician_for_update,
    request_for_update,
)
from advice_line.models import (
    ENDED_CALL_STATUSES,
    AdviceRequest,
    CallLeg,
    CallStatus,
    Channel,
    LegRole,
    OutboxPurpose,
    RequestStatus,
    Role,
    Supervision,
)

#: What the clinician on the call is told, by what the senior is doing.
TOLD = {
    Supervision.LISTEN: "is listening to this call",
    Supervision.COACH: "is coaching you: only you can hear them",
    Supervision.JOIN: "has joined this call",
}


def _live_call(session: Session, request_id: int) -> AdviceRequest:
    request = request_for_update(session, request_id)
    if request.status != RequestStatus.CONNECTED or request.channel != Channel.VOICE:
        raise IllegalTransition(f"Request {request.reference} is not on a phone call.")
    return request


def listen(
    session: Session, request_id: int, senior_id: int, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Ring a senior's phone into the call, muted and unheard."""
    request = _live_call(session, request_id)
    senior = clinician_for_update(session, senior_id)
    if senior.user.role != Role.SENIOR_CLINICIAN:
        raise IllegalTransition("Only a senior clinician can listen to a call.")
    holder = accepted_offer(session, request).clinician_id
    if holder == senior_id:
        raise IllegalTransition(f"You hold {request.reference}: you are on the call already.")
    if live_leg(session, request.id, LegRole.CLINICIAN, holder) is None:
        raise IllegalTransition(f"The clinician is not on the phone on {request.reference}.")
    if live_leg(session, request.id, LegRole.SUPERVISOR) or on_its_way(
        session, request.id, OutboxPurpose.SUPERVISOR
    ):
        raise IllegalTransition(f"A senior is already listening to {request.reference}.")
    if not senior.phone:
        raise IllegalTransition("You have no phone number to listen on.")
    audit_request(
        session, request, "supervisor_called", now=now, actor=actor, clinician_id=senior.id
    )
    signals.conference_changed.send(
        request,
        action="supervise",
        number=senior.phone,
        label=senior.user.display_name,
        clinician_id=senior.id,
    )
    return request


def supervisor_answered(
    session: Session, request_id: int, call_sid: str, *, now: datetime, actor: Actor
) -> CallLeg | None:
    """The senior's phone answered: they listen (once, whatever the retries)."""
    request = session.get_one(AdviceRequest, request_id)
    leg = session.scalars(select(CallLeg).where(CallLeg.call_sid == call_sid)).one_or_none()
    if leg is None or leg.role != LegRole.SUPERVISOR or leg.status in ENDED_CALL_STATUSES:
        return None
    if leg.joined_at is None:
        leg.joined_at = now
        audit_request(session, request, "supervisor_listening", now=now, actor=actor)
        signals.conference_changed.send(request, action="supervisor_answered", leg=leg)
    return leg


def supervise(
    session: Session,
    request_id: int,
    senior_id: int,
    mode: Supervision,
    *,
    now: datetime,
    actor: Actor,
) -> CallLeg:
    """The listening senior coaches the clinician (heard by them only) or joins the call."""
    request = _live_call(session, request_id)
    leg = live_leg(session, request.id, LegRole.SUPERVISOR)
    if leg is None or leg.clinician_id != senior_id:
        raise IllegalTransition(f"You are not listening to {request.reference}.")
    if leg.joined_at is None or leg.status != CallStatus.IN_PROGRESS:
        raise IllegalTransition("Your phone has not answered yet.")
    if mode == Supervision.LISTEN or leg.supervision == mode:
        raise IllegalTransition(f"You are already {mode.value}ing on {request.reference}.")
    leg.supervision = mode
    audit_request(
        session, request, f"supervisor_{mode.value}", now=now, actor=actor, clinician_id=senior_id
    )
    signals.conference_changed.send(request, action="supervision", leg=leg)
    return leg


def stop_supervising(
    session: Session, request_id: int, senior_id: int, *, now: datetime, actor: Actor
) -> CallLeg:
    """The senior leaves the call (their phone is hung up)."""
    request = request_for_update(session, request_id)
    leg = live_leg(session, request.id, LegRole.SUPERVISOR)
    if leg is None or leg.clinician_id != senior_id:
        raise IllegalTransition(f"You are not listening to {request.reference}.")
    audit_request(session, request, "supervisor_stopped", now=now, actor=actor)
    signals.conference_changed.send(request, action="stop", leg=leg)
    return leg


def supervisor_left(session: Session, leg: CallLeg, *, now: datetime, actor: Actor) -> str:
    """The senior's call ended (a status callback): the clinician is told."""
    request = session.get_one(AdviceRequest, leg.request_id)
    audit_request(session, request, "supervisor_left", now=now, actor=actor)
    signals.conference_changed.send(request, action="supervisor_left", leg=leg)
    return "supervisor left"


def told(session: Session, request_id: int) -> str:
    """What the clinician on the call is told about a senior on it ("" if none)."""
    leg = live_leg(session, request_id, LegRole.SUPERVISOR)
    if leg is None or leg.joined_at is None or leg.supervision is None:
        return ""
    return f"A senior clinician, {leg.label}, {TOLD[leg.supervision]}."
