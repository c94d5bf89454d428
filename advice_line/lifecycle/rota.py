"""The on-call rota: shifts added and removed by hand, weekly patterns, shifts made from them.

Times are given in London local time and stored in UTC (docs/ROTA-IMPORT.md#london-time):
an end at or before the start means the next day; a start that does not exist (the hour
the clocks go forward) is refused when typed by hand; a time that happens twice (the
hour the clocks go back) is read as its first occurrence, in British Summer Time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.clock import LONDON
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotFound
from advice_line.models import Clinician, RotaPattern, Shift, User

MAX_SHIFT = timedelta(hours=24)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class PlannedShift:
    """A shift to store: whose, and when (UTC)."""

    clinician_id: int
    starts_at: datetime
    ends_at: datetime


def london_to_utc(day: date, at: time, *, strict: bool, field: str) -> datetime:
    """Return a London wall-clock time on ``day`` in UTC.

    A time the clocks skip is refused when ``strict`` (else it is read an hour later,
    as the clock would have shown); a time that happens twice is its first occurrence.
    """
    local = datetime.combine(day, at, tzinfo=LONDON)
    moment = local.astimezone(UTC)
    if strict and moment.astimezone(LONDON).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise InvalidInput(
            {
                field: f"{at:%H:%M} does not happen on {day:%d/%m/%Y} in London: the clocks "
                "go forward an hour that night."
            }
        )
    return moment


def london_period(
    day: date, start: time, end: time, *, strict: bool = True
) -> tuple[datetime, datetime]:
    """Return the UTC period of a shift given as a London date, start and end time."""
    starts_at = london_to_utc(day, start, strict=strict, field="start")
    end_day = day + timedelta(days=1) if end <= start else day
    ends_at = london_to_utc(end_day, end, strict=strict, field="end")
    return starts_at, ends_at


def check_period(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """Refuse (``InvalidInput``) a shift longer than 24 hours, empty, or over already."""
    if ends_at <= starts_at:
        raise InvalidInput({"end": "The shift must end after it starts."})
    if ends_at - starts_at > MAX_SHIFT:
        raise InvalidInput({"end": "A shift may last 24 hours at most."})
    if ends_at <= now:
        raise InvalidInput({"date": "The shift would be over already; add shifts to come."})


def overlapping(
    session: Session, clinician_id: int, starts_at: datetime, ends_at: datetime
) -> Shift | None:
    """The clinician's first shift that overlaps the period, if any."""
    return session.scalars(
        select(Shift)
        .where(
            Shift.clinician_id == clinician_id,
            Shift.starts_at < ends_at,
            Shift.ends_at > starts_at,
        )
        .order_by(Shift.starts_at)
        .limit(1)
    ).first()


def describe(starts_at: datetime, ends_at: datetime) -> str:
    """A shift's period as people read it: ``Tue 01/12/2026 20:00-08:00`` (with an en dash)."""
    start, end = starts_at.astimezone(LONDON), ends_at.astimezone(LONDON)
    return f"{start:%a %d/%m/%Y %H:%M}\N{EN DASH}{end:%H:%M}"


def find_clinician(session: Session, username: str) -> Clinician:
    """The clinician whose staff account is ``username`` (``NotFound`` if none)."""
    clinician = session.scalar(
        select(Clinician).join(User, User.id == Clinician.user_id).where(User.username == username)
    )
    if clinician is None:
        raise NotFound(f"No clinician has the staff account {username!r}.")
    return clinician


def _require_active(clinician: Clinician) -> None:
    if not clinician.user.active:
        raise IllegalTransition(
            f"{clinician.user.username}'s account is deactivated, so they go on no rota."
        )


def add_shift(
    session: Session,
    clinician_id: int,
    day: date,
    start: time,
    end: time,
    *,
    now: datetime,
    actor: Actor,
) -> Shift:
    """Add a shift by hand (London date and times); refuse overlap with their own shifts."""
    clinician = session.get(Clinician, clinician_id, with_for_update=True)
    if clinician is None:
        raise NotFound(f"No clinician {clinician_id}.")
    _require_active(clinician)
    starts_at, ends_at = london_period(day, start, end)
    check_period(starts_at, ends_at, now)
    clash = overlapping(session, clinician_id, starts_at, ends_at)
    if clash is not None:
        raise InvalidInput(
            {"start": f"It overlaps their shift {describe(clash.starts_at, clash.ends_at)}."}
        )
    shift = Shift(clinician_id=clinician_id, starts_at=starts_at, ends_at=ends_at)
    session.add(shift)
    session.flush()
    record_event(
        session,
        actor,
        "shift.added",
        now=now,
        subject=("user", clinician.user_id),
        detail={
            "shift_id": shift.id,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return shift


def remove_shift(session: Session, shift_id: int, *, now: datetime, actor: Actor) -> None:
    """Remove a shift that has not started.

    A shift that has started is not removed: one over is history, and one in progress
    may have a request in hand (a clinician leaving early goes offline on the console).
    """
    shift = session.get(Shift, shift_id, with_for_update=True)
    if shift is None:
        raise NotFound(f"No shift {shift_id}.")
    if shift.starts_at <= now:
        raise IllegalTransition(
            f"The shift {describe(shift.starts_at, shift.ends_at)} has started, so it stays on "
            "the rota; only shifts to come can be removed."
        )
    record_event(
        session,
        actor,
        "shift.removed",
        now=now,
        subject=("user", shift.clinician.user_id),
        detail={
            "shift_id": shift.id,
            "starts_at": shift.starts_at.isoformat(),
            "ends_at": shift.ends_at.isoformat(),
        },
    )
    session.delete(shift)
    session.flush()


def add_pattern(
    session: Session,
    clinician_id: int,
    weekday: int,
    start: time,
    end: time,
    *,
    valid_from: date,
    valid_until: date | None,
    now: datetime,
    actor: Actor,
) -> RotaPattern:
    """Add a weekly pattern; its shifts are made by ``generate_shifts``."""
    clinician = session.get(Clinician, clinician_id)
    if clinician is None:
        raise NotFound(f"No clinician {clinician_id}.")
    _require_active(clinician)
    if not 0 <= weekday <= 6:
        raise InvalidInput({"weekday": "Choose a day of the week."})
    if start == end:
        raise InvalidInput({"end": "The shift must end at another time than it starts."})
    if valid_until is not None and valid_until < valid_from:
        raise InvalidInput({"valid_until": "The pattern must end on or after the day it starts."})
    pattern = RotaPattern(
        clinician_id=clinician_id,
        weekday=weekday,
        starts=start,
        ends=end,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=now,
    )
    session.add(pattern)
    session.flush()
    record_event(
        session,
        actor,
        "rota_pattern.added",
        now=now,
        subject=("user", clinician.user_id),
        detail={
            "pattern_id": pattern.id,
            "weekday": WEEKDAYS[weekday],
            "start": f"{start:%H:%M}",
            "end": f"{end:%H:%M}",
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
    )
    return pattern


def remove_pattern(session: Session, pattern_id: int, *, now: datetime, actor: Actor) -> None:
    """Remove a pattern; shifts already made from it stay (remove them one by one)."""
    pattern = session.get(RotaPattern, pattern_id)
    if pattern is None:
        raise NotFound(f"No rota pattern {pattern_id}.")
    record_event(
        session,
        actor,
        "rota_pattern.removed",
        now=now,
        subject=("user", pattern.clinician.user_id),
        detail={"pattern_id": pattern.id, "weekday": WEEKDAYS[pattern.weekday]},
    )
    session.delete(pattern)
    session.flush()


def _dates(pattern: RotaPattern, first: date, last: date) -> Iterable[date]:
    """The pattern's dates from ``first`` to ``last`` inclusive."""
    day = first + timedelta(days=(pattern.weekday - first.weekday()) % 7)
    while day <= last:
        if day >= pattern.valid_from and (
            pattern.valid_until is None or day <= pattern.valid_until
        ):
            yield day
        day += timedelta(days=7)


def generate_shifts(session: Session, *, days: int, now: datetime, actor: Actor) -> int:
    """Make the patterns' shifts for today and the next ``days`` days; return how many.

    Each date is made once per pattern (``generated_until``), so running again adds
    nothing, and a shift removed by hand is not made again. A shift that would overlap
    one the clinician has (made by hand, imported or from another pattern) is skipped:
    what is already on the rota wins.
    """
    today = now.astimezone(LONDON).date()
    last = today + timedelta(days=days)
    patterns = session.scalars(
        select(RotaPattern)
        .where(sa.or_(RotaPattern.generated_until.is_(None), RotaPattern.generated_until < last))
        .order_by(RotaPattern.id)
        .with_for_update(skip_locked=True)
    ).all()
    made = 0
    for pattern in patterns:
        first = max(
            today, (pattern.generated_until or today - timedelta(days=1)) + timedelta(days=1)
        )
        for day in _dates(pattern, first, last):
            starts_at, ends_at = london_period(day, pattern.starts, pattern.ends, strict=False)
            if ends_at <= now or overlapping(session, pattern.clinician_id, starts_at, ends_at):
                continue
            session.add(
                Shift(clinician_id=pattern.clinician_id, starts_at=starts_at, ends_at=ends_at)
            )
            session.flush()
            made += 1
        pattern.generated_until = last
    if made:
        record_event(
            session, actor, "rota.generated", now=now, detail={"shifts": made, "days": days}
        )
    session.flush()
    return made


def shifts_between(session: Session, start: datetime, end: datetime) -> list[tuple[Shift, str]]:
    """Shifts overlapping the period, with the clinician's name, by name then start."""
    rows = session.execute(
        select(Shift, User.display_name)
        .join(Clinician, Clinician.id == Shift.clinician_id)
        .join(User, User.id == Clinician.user_id)
        .where(Shift.ends_at > start, Shift.starts_at < end)
        .order_by(User.display_name, Shift.starts_at)
    ).all()
    return [(shift, name) for shift, name in rows]
