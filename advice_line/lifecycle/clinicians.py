"""Clinicians: the status they set, presence at a console, and calls in the browser."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import (
    IllegalTransition,
    NotFound,
)
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import require_qualifying
from advice_line.lifecycle.steps import (
    change_clinician_status,
    clinician_for_update,
    end_offer,
    move,
    request_for_update,
)
from advice_line.models import (
    Clinician,
    ClinicianStatus,
    Offer,
    OfferOutcome,
    RequestStatus,
)

MANUAL_STATUSES = frozenset(
    {ClinicianStatus.AVAILABLE, ClinicianStatus.AWAY, ClinicianStatus.OFFLINE}
)


def set_clinician_status(
    session: Session,
    clinician_id: int,
    status: ClinicianStatus,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Clinician:
    """Set a clinician available, away or offline; a held offer passes to the next."""
    if status not in MANUAL_STATUSES:
        raise IllegalTransition(f"A clinician cannot set themselves {status.value}.")
    current = session.get(Clinician, clinician_id)
    if current is None:
        raise NotFound(f"There is no clinician {clinician_id}.")
    held = _pending_offer_of_clinician(session, clinician_id)
    request = None
    if held is not None:
        request = request_for_update(session, held.request_id)  # lock order: request first
        session.refresh(held)
    clinician = clinician_for_update(session, clinician_id)
    if clinician.status in {ClinicianStatus.ON_CALL, ClinicianStatus.WRAP_UP}:
        raise IllegalTransition("Finish the current request before changing status.")
    if status == ClinicianStatus.AVAILABLE:
        require_qualifying(clinician, policy, now=now)
        if clinician.status == ClinicianStatus.OFFERED:
            return clinician
        clinician.missed_offers_in_row = 0
    if request is not None and held is not None and held.outcome is None:
        end_offer(session, held, OfferOutcome.RESCINDED, now=now, actor=actor)
        move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")
    change_clinician_status(
        session,
        clinician,
        status,
        now=now,
        actor=actor,
        starts_idle=status == ClinicianStatus.AVAILABLE,
    )
    return clinician


def _pending_offer_of_clinician(session: Session, clinician_id: int) -> Offer | None:
    return session.scalars(
        select(Offer).where(Offer.clinician_id == clinician_id, Offer.outcome.is_(None))
    ).one_or_none()


def console_seen(session: Session, clinician_id: int, *, now: datetime) -> Clinician:
    """A clinician's console is connected (or sent its heartbeat)."""
    clinician = session.get(Clinician, clinician_id)
    if clinician is None:
        raise NotFound(f"There is no clinician {clinician_id}.")
    clinician.on_console = True
    clinician.console_seen_at = now
    session.flush()
    return clinician


def sweep_lost_consoles(
    session: Session, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> list[int]:
    """Clinicians whose console went quiet past the grace period go offline; return them.

    Any offer they held goes back to the queue for the next clinician. A clinician on a
    call keeps it (their phone is still connected) but is no longer at a console.
    """
    quiet = session.scalars(
        select(Clinician.id).where(
            Clinician.on_console.is_(True), Clinician.console_seen_at < now - policy.presence_grace
        )
    ).all()
    for clinician_id in quiet:
        clinician = clinician_for_update(session, clinician_id)
        clinician.on_console = False
        clinician.browser_phone_at = None
        if clinician.status not in {ClinicianStatus.ON_CALL, ClinicianStatus.WRAP_UP}:
            set_clinician_status(
                session, clinician_id, ClinicianStatus.OFFLINE, now=now, actor=actor, policy=policy
            )
        record_event(
            session, actor, "clinician.console_lost", now=now, subject=("clinician", clinician_id)
        )
    session.flush()
    return list(quiet)


def takes_calls_in_browser(clinician: Clinician, *, now: datetime, policy: RoutingPolicy) -> bool:
    """Whether the line rings the clinician's browser: at a console that said so lately."""
    said = clinician.browser_phone_at
    return clinician.on_console and said is not None and said >= now - policy.presence_grace


def set_browser_phone(
    session: Session,
    clinician_id: int,
    *,
    ready: bool,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
    unless_said_since: datetime | None = None,
) -> bool:
    """A console page's browser can (or no longer can) take calls; return whether it can.

    A page repeats "ready" with its heartbeat. "Not ready" from a page that has gone
    (``unless_said_since``: when that page last said ready) leaves alone a page that said
    ready after it. Only a change is audited, not each repetition.
    """
    clinician = session.get(Clinician, clinician_id)
    if clinician is None:
        raise NotFound(f"There is no clinician {clinician_id}.")
    was = takes_calls_in_browser(clinician, now=now, policy=policy)
    said = clinician.browser_phone_at
    another_page = unless_said_since is not None and said is not None and said > unless_said_since
    if not ready and another_page:
        return was
    clinician.browser_phone_at = now if ready else None
    session.flush()
    if ready != was:
        record_event(
            session,
            actor,
            "clinician.browser_phone",
            now=now,
            subject=("clinician", clinician_id),
            detail={"ready": ready},
        )
    return ready
