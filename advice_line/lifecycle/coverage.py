"""Rota coverage: the hours ahead with no qualifying clinician on shift, or none with a skill.

An hour (London time; whole hours in UTC too, as London is always a whole number of
hours from UTC) is covered when, for all of it, at least one active, qualifying
clinician is on shift (with the skill, for a skill's coverage). Who qualifies is asked
of ``qualifying_condition``, the rule routing uses. Two queries, whatever the period.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.clock import LONDON
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import qualifying_condition
from advice_line.models import Clinician, ClinicianSkill, Shift, Skill, User

HOUR = timedelta(hours=1)
#: The coverage kinds: any qualifying clinician, then each skill.
ANY = "any"
KINDS: tuple[str, ...] = (ANY, *(skill.value for skill in Skill))


def kind_label(kind: str) -> str:
    """How a gap is described: ``no qualifying clinician`` or ``none with CAMHS``."""
    if kind == ANY:
        return "no qualifying clinician"
    name = "CAMHS" if kind == Skill.CAMHS else kind.replace("_", " ")
    return f"no qualifying clinician with {name}"


@dataclass(frozen=True)
class Gap:
    """Consecutive hours without cover of one kind (UTC, end exclusive)."""

    kind: str
    starts_at: datetime
    ends_at: datetime

    @property
    def hours(self) -> int:
        """How many hours the gap lasts."""
        return int((self.ends_at - self.starts_at) / HOUR)

    def __str__(self) -> str:
        start, end = self.starts_at.astimezone(LONDON), self.ends_at.astimezone(LONDON)
        return (
            f"{start:%a} {start.day} {start:%b} {start:%H:%M}\N{EN DASH}{end:%H:%M}"
            f"{'' if end.date() == start.date() else f' (to {end:%a} {end.day} {end:%b})'}"
            f": {kind_label(self.kind)}"
        )


@dataclass(frozen=True)
class Coverage:
    """The hours of the period and, for each kind, the hours without cover."""

    hours: list[datetime]
    uncovered: dict[str, set[datetime]]

    def gaps(self) -> list[Gap]:
        """The uncovered hours as ranges, by start then kind."""
        found: list[Gap] = []
        for kind in KINDS:
            start: datetime | None = None
            for hour in [*self.hours, None]:
                if hour is not None and hour in self.uncovered[kind]:
                    start = start or hour
                    continue
                if start is not None:
                    end = hour if hour is not None else self.hours[-1] + HOUR
                    found.append(Gap(kind, start, end))
                    start = None
        return sorted(found, key=lambda g: (g.starts_at, KINDS.index(g.kind)))

    def grid(self) -> list[tuple[date, list[tuple[int, list[str]]]]]:
        """Each London day of the period: its hours (0 to 23) and the kinds uncovered in each."""
        days: dict[date, dict[int, set[str]]] = defaultdict(dict)
        for hour in self.hours:
            local = hour.astimezone(LONDON)
            cell = days[local.date()].setdefault(local.hour, set())
            cell.update(kind for kind in KINDS if hour in self.uncovered[kind])
        return [
            (day, [(h, sorted(cells[h], key=KINDS.index)) for h in sorted(cells)])
            for day, cells in sorted(days.items())
        ]

    def hours_uncovered(self, kind: str) -> int:
        """How many hours of the period have no cover of this kind."""
        return len(self.uncovered[kind])


def _merge(periods: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(periods):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), LONDON).astimezone(UTC)


def coverage(session: Session, *, now: datetime, hours: int, policy: RoutingPolicy) -> Coverage:
    """The coverage of the ``hours`` hours from the start of the current hour."""
    first = now.replace(minute=0, second=0, microsecond=0)
    period = [first + HOUR * i for i in range(hours)]
    end = first + HOUR * hours
    rows = session.execute(
        select(Shift.clinician_id, Shift.starts_at, Shift.ends_at, Clinician.registration_lapses_on)
        .join(Clinician, Clinician.id == Shift.clinician_id)
        .join(User, User.id == Clinician.user_id)
        .where(
            Shift.starts_at < end,
            Shift.ends_at > first,
            User.active.is_(True),
            qualifying_condition(policy, now=now),
        )
    ).all()
    # A registration that lapses within the period covers nothing from its lapse day.
    shifts = [
        (clinician_id, starts, ends if lapses is None else min(ends, _london_midnight(lapses)))
        for clinician_id, starts, ends, lapses in rows
    ]
    shifts = [(clinician, starts, ends) for clinician, starts, ends in shifts if ends > starts]
    skills: dict[int, set[str]] = defaultdict(set)
    for clinician_id, skill in session.execute(
        select(ClinicianSkill.clinician_id, ClinicianSkill.skill).where(
            ClinicianSkill.clinician_id.in_({row[0] for row in shifts})
        )
    ):
        skills[clinician_id].add(skill.value)
    uncovered: dict[str, set[datetime]] = {}
    for kind in KINDS:
        merged = _merge([(s, e) for c, s, e in shifts if kind == ANY or kind in skills[c]])
        uncovered[kind] = {
            hour for hour in period if not any(s <= hour and e >= hour + HOUR for s, e in merged)
        }
    return Coverage(period, uncovered)
