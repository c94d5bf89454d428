"""Calling back an officer who hung up, on the request they abandoned (docs/DOMAIN.md#tasks).

The clinician who calls takes the abandoned request again: it keeps its reference, the
officer's identity (directory entry, collar number and force given) and its history; the
line rings both phones into its conference; completing its record closes its call-back task.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotFound
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import require_qualifying
from advice_line.lifecycle.steps import (
    clinician_for_update,
    end_offer,
    give_request,
    request_for_update,
)
from advice_line.lifecycle.tasks import take_task
from advice_line.models import (
    AdviceRequest,
    ClinicianStatus,
    Offer,
    OfferOutcome,
    RequestStatus,
    Task,
    TaskKind,
)

#: A clinician holding an offer or a request finishes it before calling anyone back.
BUSY = frozenset({ClinicianStatus.OFFERED, ClinicianStatus.ON_CALL, ClinicianStatus.WRAP_UP})


def call_back(
    session: Session,
    request_id: int,
    clinician_id: int,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> AdviceRequest:
    """The clinician takes an abandoned request again to call the officer back on it.

    An offer accepted before the officer hung up ends as ``failed`` (they were never
    connected), so the caller-back holds the request's one accepted offer.
    """
    request = request_for_update(session, request_id)
    if request.status != RequestStatus.ABANDONED:
        raise IllegalTransition(
            f"{request.reference} is {request.status.value.replace('_', ' ')}: only a request "
            "the officer abandoned is taken again to call them back."
        )
    if not request.caller_number:
        raise InvalidInput({"request": f"{request.reference} has no number to call back."})
    clinician = clinician_for_update(session, clinician_id)
    require_qualifying(clinician, policy, now=now)
    if clinician.status in BUSY:
        raise IllegalTransition(
            f"You are {clinician.status.value.replace('_', ' ')}: finish that first, "
            "then call the officer back."
        )
    earlier = session.scalars(
        select(Offer).where(Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED)
    ).one_or_none()
    if earlier is not None:
        end_offer(session, earlier, OfferOutcome.FAILED, now=now, actor=actor)
    offer = Offer(request=request, clinician=clinician, offered_at=now, expires_at=now)
    session.add(offer)
    request.call_back_requested_at = now
    give_request(session, request, offer, now=now, actor=actor, action="called_back")
    signals.offer_changed.send(offer, action="accepted")
    return request


def take_call_back_task(
    session: Session, task_id: int, user_id: int, *, now: datetime, actor: Actor
) -> Task:
    """Make an open call-back task one's own to act on it; a colleague's stays theirs."""
    task = session.get(Task, task_id, with_for_update=True, populate_existing=True)
    if task is None:
        raise NotFound(f"There is no task {task_id}.")
    if task.kind != TaskKind.CALL_BACK or task.request_id is None:
        raise IllegalTransition(f"Task {task_id} is not a call-back: there is no one to call.")
    if task.owner_user_id not in (None, user_id):
        raise IllegalTransition(
            f"A colleague has taken task {task_id}: take it from them first if they handed it over."
        )
    return take_task(session, task_id, user_id, now=now, actor=actor)
