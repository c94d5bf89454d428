"""The shared steps of every lifecycle function: row locks, the transition table, and
moving a status with its audit event and signal.

Package-internal: the other lifecycle modules build their steps from these.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import (
    IllegalTransition,
    NotFound,
)
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import require_qualifying
from advice_line.models import (
    AdviceRequest,
    Clinician,
    ClinicianStatus,
    Offer,
    OfferOutcome,
    RequestStatus,
    Task,
    TaskKind,
)

S = RequestStatus


ALLOWED_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.RECEIVED: frozenset({S.QUEUED, S.ABANDONED, S.CANCELLED}),
    S.QUEUED: frozenset({S.OFFERED, S.ACCEPTED, S.ABANDONED, S.CANCELLED}),
    S.OFFERED: frozenset({S.QUEUED, S.ACCEPTED, S.ABANDONED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.CONNECTED, S.QUEUED, S.ABANDONED}),
    S.CONNECTED: frozenset({S.WRAP_UP}),
    S.WRAP_UP: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    # Only by calling the officer back (``call_backs.call_back``), never from the queue.
    S.ABANDONED: frozenset({S.ACCEPTED}),
    S.CANCELLED: frozenset(),
}

#: Final statuses: a request in one is over, and the caller's next contact opens a new one
#: (a clinician may still take an abandoned one again to call the officer back).
FINISHED = frozenset({S.CLOSED, S.ABANDONED, S.CANCELLED})


WAITING = frozenset({S.QUEUED, S.OFFERED})


TAKEN = frozenset({S.ACCEPTED, S.CONNECTED, S.WRAP_UP, S.CLOSED})


def request_for_update(session: Session, request_id: int) -> AdviceRequest:
    request = session.get(AdviceRequest, request_id, with_for_update=True, populate_existing=True)
    if request is None:
        raise NotFound(f"There is no advice request {request_id}.")
    return request


def clinician_for_update(session: Session, clinician_id: int) -> Clinician:
    clinician = session.get(Clinician, clinician_id, with_for_update=True, populate_existing=True)
    if clinician is None:
        raise NotFound(f"There is no clinician {clinician_id}.")
    return clinician


def pending_offer(session: Session, request_id: int) -> Offer | None:
    return session.scalars(
        select(Offer).where(Offer.request_id == request_id, Offer.outcome.is_(None))
    ).one_or_none()


def accepted_offer(session: Session, request: AdviceRequest) -> Offer:
    return session.scalars(
        select(Offer).where(Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED)
    ).one()


def accepted_at_once(
    session: Session, request: AdviceRequest, clinician: Clinician, *, now: datetime
) -> Offer:
    """A new offer accepted as it is made (a call-back, a handover): the clinician holds it."""
    offer = Offer(
        request=request,
        clinician=clinician,
        offered_at=now,
        expires_at=now,
        outcome=OfferOutcome.ACCEPTED,
        responded_at=now,
    )
    session.add(offer)
    session.flush()
    return offer


def require(request: AdviceRequest, target: RequestStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[request.status]:
        raise IllegalTransition(
            f"Request {request.reference} is {request.status.value}; "
            f"it cannot become {target.value}."
        )


def offerable_clinician(
    session: Session, clinician_id: int, policy: RoutingPolicy, *, now: datetime
) -> Clinician:
    """Lock the clinician and check they are qualifying and free to be offered a request."""
    clinician = clinician_for_update(session, clinician_id)
    require_qualifying(clinician, policy, now=now)
    if clinician.status != ClinicianStatus.AVAILABLE:
        raise IllegalTransition(f"Clinician {clinician.id} is {clinician.status.value}.")
    return clinician


def audit_request(
    session: Session,
    request: AdviceRequest,
    action: str,
    *,
    now: datetime,
    actor: Actor,
    **detail: object,
) -> None:
    """Audit a step on the request (``request.<action>``) and flush."""
    record_event(
        session,
        actor,
        f"request.{action}",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail=detail,
    )
    session.flush()


def move(
    session: Session,
    request: AdviceRequest,
    target: RequestStatus,
    *,
    now: datetime,
    actor: Actor,
    action: str,
    detail: dict[str, object] | None = None,
) -> None:
    require(request, target)
    old = request.status
    request.status = target
    setattr(request, f"{target.value}_at", now)
    audit_request(
        session,
        request,
        action,
        now=now,
        actor=actor,
        **{"from": old.value, "to": target.value, **(detail or {})},
    )
    signals.request_changed.send(request, old_status=old, action=action)


def change_clinician_status(
    session: Session,
    clinician: Clinician,
    status: ClinicianStatus,
    *,
    now: datetime,
    actor: Actor,
    starts_idle: bool = False,
) -> None:
    old = clinician.status
    if old == status:
        return
    clinician.status = status
    clinician.status_changed_at = now
    if starts_idle or clinician.idle_since is None:
        clinician.idle_since = now
    record_event(
        session,
        actor,
        "clinician.status",
        now=now,
        subject=("clinician", clinician.id),
        detail={"from": old.value, "to": status.value},
    )
    session.flush()
    signals.clinician_status_changed.send(clinician, old_status=old)


def give_request(
    session: Session,
    request: AdviceRequest,
    offer: Offer,
    *,
    now: datetime,
    actor: Actor,
    action: str,
) -> None:
    """The offer's clinician holds the request: offer accepted, clinician on call, request accepted.

    The caller sends ``offer_changed`` once it is sure the step stands.
    """
    offer.outcome = OfferOutcome.ACCEPTED
    offer.responded_at = now
    offer.clinician.missed_offers_in_row = 0
    change_clinician_status(session, offer.clinician, ClinicianStatus.ON_CALL, now=now, actor=actor)
    move(
        session,
        request,
        RequestStatus.ACCEPTED,
        now=now,
        actor=actor,
        action=action,
        detail={"clinician_id": offer.clinician.id, "offer_id": offer.id},
    )


def end_offer(
    session: Session, offer: Offer, outcome: OfferOutcome, *, now: datetime, actor: Actor
) -> None:
    offer.outcome = outcome
    offer.responded_at = now
    record_event(
        session,
        actor,
        f"offer.{outcome.value}",
        now=now,
        request_id=offer.request_id,
        subject=("offer", offer.id),
        detail={"clinician_id": offer.clinician_id},
    )
    session.flush()
    signals.offer_changed.send(offer, action=outcome.value)


def add_task(
    session: Session,
    kind: TaskKind,
    request: AdviceRequest,
    description: str,
    *,
    now: datetime,
    due_at: datetime,
    actor: Actor,
    owner_user_id: int | None = None,
) -> Task:
    task = Task(
        kind=kind,
        request_id=request.id,
        owner_user_id=owner_user_id,
        description=description,
        created_at=now,
        due_at=due_at,
    )
    session.add(task)
    session.flush()
    record_event(
        session,
        actor,
        "task.created",
        now=now,
        request_id=request.id,
        subject=("task", task.id),
        detail={"kind": kind.value, "due_at": due_at.isoformat()},
    )
    signals.task_created.send(task)
    return task


def withdraw_pending_offer(
    session: Session, request: AdviceRequest, *, now: datetime, actor: Actor
) -> None:
    pending = pending_offer(session, request.id)
    if pending is None:
        return
    clinician = clinician_for_update(session, pending.clinician_id)
    end_offer(session, pending, OfferOutcome.RESCINDED, now=now, actor=actor)
    change_clinician_status(session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor)
