"""The officer's decision and the detention that may follow it, whenever they are reported.

The decision is kept apart from the advice and may arrive before, during or after the
record, by text, by keypad, or from the clinician or senior on the officer's word. Every
change is audited with what it replaced. The 24-hour detention clock runs from arrival at
the place of safety (``docs/DOMAIN.md#detention-clock``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.clock import london
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.steps import add_task, request_for_update
from advice_line.models import (
    AdviceRequest,
    Conveyance,
    Detention,
    OfficerDecision,
    PlaceOfSafetyUsed,
    PoliceVehicleReason,
    ReportedVia,
    RequestStatus,
    TaskKind,
    Timer,
    TimerKind,
)

#: How far ahead of the line's clock a reported time may be (phones' clocks drift).
CLOCK_TOLERANCE = timedelta(minutes=5)
TIMES = ("detained_at", "arrived_at", "handed_over_at", "ended_at")


@dataclass(frozen=True)
class DetentionReport:
    """What is being reported about a detention; None leaves a field as it was."""

    detained_at: datetime | None = None
    arrived_at: datetime | None = None
    handed_over_at: datetime | None = None
    ended_at: datetime | None = None
    place_of_safety_used: PlaceOfSafetyUsed | None = None
    conveyance: Conveyance | None = None
    police_vehicle_reason: PoliceVehicleReason | None = None


def time_allowed(policy: RoutingPolicy, *, extended: bool) -> timedelta:
    """How long a detention may last from arrival: 24 hours, 36 once extended (s136B).

    The reports' facts count detentions past their limit with this too.
    """
    return policy.detention_limit + (policy.detention_extension if extended else timedelta())


def deadline(detention: Detention, policy: RoutingPolicy) -> datetime | None:
    """When the detention must end: 24 hours from arrival, 36 once extended."""
    if detention.arrived_at is None:
        return None
    return detention.arrived_at + time_allowed(policy, extended=detention.extended_at is not None)


def _detention_for_update(session: Session, request: AdviceRequest) -> Detention:
    """The request's detention row, locked; a new one (not yet added) if there is none."""
    if request.status == RequestStatus.CANCELLED:
        raise IllegalTransition(f"Request {request.reference} was cancelled.")
    detention = session.scalars(
        select(Detention).where(Detention.request_id == request.id).with_for_update()
    ).one_or_none()
    return detention or Detention(request_id=request.id)


def _audit(
    session: Session,
    detention: Detention,
    action: str,
    changes: dict[str, tuple[object, object]],
    *,
    now: datetime,
    actor: Actor,
    via: ReportedVia,
) -> None:
    detention.updated_at = now
    session.add(detention)
    session.flush()
    record_event(
        session,
        actor,
        action,
        now=now,
        request_id=detention.request_id,
        subject=("detention", detention.id),
        detail={
            "via": via.value,
            **{
                name: {"from": _plain(old), "to": _plain(new)}
                for name, (old, new) in changes.items()
            },
        },
    )
    session.flush()
    signals.detention_changed.send(detention, action=action)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return getattr(value, "value", value)


def report_decision(
    session: Session,
    request_id: int,
    decision: OfficerDecision,
    *,
    via: ReportedVia,
    now: datetime,
    actor: Actor,
    decided_at: datetime | None = None,
) -> Detention:
    """Record what the officer decided; a later report corrects it (audited)."""
    request = request_for_update(session, request_id)
    if decided_at is not None and decided_at > now + CLOCK_TOLERANCE:
        raise InvalidInput({"decided_at": "The time given is in the future."})
    detention = _detention_for_update(session, request)
    if decision == OfficerDecision.NOT_DETAINED and detention.arrived_at is not None:
        raise IllegalTransition(
            f"{request.reference} already has an arrival at a place of safety; "
            "a clinician or senior must correct it."
        )
    previous = detention.decision
    detention.decision = decision
    detention.decision_reported_at = now
    detention.decision_reported_via = via
    if decision == OfficerDecision.DETAINED and detention.detained_at is None:
        detention.detained_at = decided_at
    _audit(
        session,
        detention,
        "detention.decision",
        {"decision": (previous, decision)},
        now=now,
        actor=actor,
        via=via,
    )
    return detention


def _report_errors(detention: Detention, report: DetentionReport, now: datetime) -> dict[str, str]:
    errors: dict[str, str] = {}
    times = {name: getattr(report, name) or getattr(detention, name) for name in TIMES}
    for name in TIMES:
        given = getattr(report, name)
        if given is not None and given > now + CLOCK_TOLERANCE:
            errors[name] = "The time given is in the future."
    for earlier, later in itertools.pairwise(TIMES):
        if times[earlier] and times[later] and times[later] < times[earlier]:
            errors.setdefault(later, f"Must not be before {earlier.removesuffix('_at')}.")
    if times["handed_over_at"] and not times["arrived_at"]:
        errors.setdefault("arrived_at", "Give the arrival at the place of safety first.")
    conveyance = report.conveyance or detention.conveyance
    reason = report.police_vehicle_reason or detention.police_vehicle_reason
    if conveyance == Conveyance.POLICE_VEHICLE and reason is None:
        errors["police_vehicle_reason"] = "Say why a police vehicle was used."
    elif conveyance not in {None, Conveyance.POLICE_VEHICLE} and report.police_vehicle_reason:
        errors["police_vehicle_reason"] = "Only a police vehicle needs a reason."
    return errors


def record_detention(
    session: Session,
    request_id: int,
    report: DetentionReport,
    *,
    via: ReportedVia,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Detention:
    """Record times, place and conveyance of a detention; arrival starts the clock."""
    request = request_for_update(session, request_id)
    detention = _detention_for_update(session, request)
    if detention.decision == OfficerDecision.NOT_DETAINED:
        raise IllegalTransition(
            f"The officer reported {request.reference} as not detained; report DETAINED first."
        )
    errors = _report_errors(detention, report, now)
    if errors:
        raise InvalidInput(errors)
    changes: dict[str, tuple[object, object]] = {}
    for item in fields(DetentionReport):
        new = getattr(report, item.name)
        old = getattr(detention, item.name)
        if new is not None and new != old:
            setattr(detention, item.name, new)
            changes[item.name] = (old, new)
    if detention.conveyance != Conveyance.POLICE_VEHICLE:
        detention.police_vehicle_reason = None
    if detention.decision is None:
        changes["decision"] = (None, OfficerDecision.DETAINED)
        detention.decision = OfficerDecision.DETAINED
        detention.decision_reported_at = now
        detention.decision_reported_via = via
    if not changes:
        return detention
    _audit(session, detention, "detention.updated", changes, now=now, actor=actor, via=via)
    if "arrived_at" in changes:
        _start_clock(session, detention, policy)
    return detention


def extend_detention(
    session: Session,
    request_id: int,
    *,
    via: ReportedVia,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Detention:
    """Record the doctor's 12-hour extension of the detention (once)."""
    request = request_for_update(session, request_id)
    detention = _detention_for_update(session, request)
    if detention.arrived_at is None or detention.ended_at is not None:
        raise IllegalTransition(f"{request.reference} has no detention running to extend.")
    if detention.extended_at is not None:
        raise IllegalTransition(f"The detention on {request.reference} is already extended.")
    detention.extended_at = now
    _audit(
        session,
        detention,
        "detention.extended",
        {"extended_at": (None, now)},
        now=now,
        actor=actor,
        via=via,
    )
    _start_clock(session, detention, policy)
    return detention


def _start_clock(session: Session, detention: Detention, policy: RoutingPolicy) -> None:
    ends = deadline(detention, policy)
    assert ends is not None
    for kind, due in (
        (TimerKind.DETENTION_WARNING, ends - policy.detention_warning),
        (TimerKind.DETENTION_LIMIT, ends),
    ):
        session.add(Timer(kind=kind, request_id=detention.request_id, due_at=due))
    session.flush()


def check_detention_clock(
    session: Session, timer: Timer, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> None:
    """A detention timer fell due: warn before the end, alert at the end (if still running)."""
    detention = session.scalars(
        select(Detention).where(Detention.request_id == timer.request_id)
    ).one_or_none()
    if detention is None or detention.ended_at is not None:
        return
    ends = deadline(detention, policy)
    if ends is None:
        return
    warning = timer.kind == TimerKind.DETENTION_WARNING
    if timer.due_at != (ends - policy.detention_warning if warning else ends):
        return  # an earlier clock, replaced by a new arrival time or the extension
    request = session.get_one(AdviceRequest, timer.request_id)
    stage = "warning" if warning else "limit"
    if warning:
        add_task(
            session,
            TaskKind.DETENTION_CLOCK,
            request,
            f"The detention on {request.reference} must end by {london(ends)}: "
            "check the assessment is under way, or that a doctor has extended it.",
            now=now,
            due_at=ends,
            actor=actor,
        )
    record_event(
        session,
        actor,
        f"detention.clock_{stage}",
        now=now,
        request_id=request.id,
        subject=("detention", detention.id),
        detail={"ends_at": ends.isoformat()},
    )
    session.flush()
    signals.detention_clock.send(detention, stage=stage, ends_at=ends)
