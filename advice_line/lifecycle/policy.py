"""The routing policy: every configurable number the engine and lifecycle use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from advice_line.models.clinician import REGULATION_PROFESSIONS, Profession
from advice_line.models.request import EscalationLevel

#: The levels a waiting request widens through, in order (the first is where it starts).
ESCALATION_LEVELS: tuple[str, ...] = tuple(level.value for level in EscalationLevel)


@dataclass(frozen=True)
class EscalationStep:
    """After ``after_seconds`` of waiting, route at ``level``."""

    after_seconds: int
    level: str


def parse_escalation_steps(text: str) -> tuple[EscalationStep, ...]:
    """Parse ``"30:any_qualifying,60:senior_alert"``; raise ``ValueError`` saying what is wrong."""
    steps: list[EscalationStep] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        seconds_text, _, level = part.partition(":")
        if not seconds_text.strip().isdigit() or level.strip() not in ESCALATION_LEVELS[1:]:
            raise ValueError(
                f"ESCALATION_STEPS entry {part!r} must look like '30:any_qualifying' with a "
                f"level among {', '.join(ESCALATION_LEVELS[1:])}"
            )
        steps.append(EscalationStep(int(seconds_text), level.strip()))
    levels = [s.level for s in steps]
    if sorted(levels, key=ESCALATION_LEVELS.index) != levels or len(set(levels)) != len(levels):
        raise ValueError("ESCALATION_STEPS must widen step by step, each level once")
    if [s.after_seconds for s in steps] != sorted(s.after_seconds for s in steps):
        raise ValueError("ESCALATION_STEPS must be in increasing order of waiting time")
    return tuple(steps)


def parse_professions(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list of professions; raise ``ValueError`` naming the known ones."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    known = {p.value for p in REGULATION_PROFESSIONS}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(
            "QUALIFYING_PROFESSIONS must list professions the 2017 Regulations name, among "
            f"{', '.join(sorted(known))}"
        )
    return names


PERIODS = {"minute": 60, "hour": 3600, "day": 86400}
REQUEST_LIMIT = re.compile(r"\s*(\d+)\s+per\s+(\d+\s+)?(minute|hour|day)s?\s*", re.IGNORECASE)


def parse_request_limit(text: str) -> tuple[int, timedelta]:
    """Parse ``"6 per hour"`` (or ``"10 per 2 hours"``); raise ``ValueError`` saying what is
    wrong."""
    found = REQUEST_LIMIT.fullmatch(text)
    count = int(found.group(1)) if found else 0
    periods = int(found.group(2) or 1) if found else 0
    if found is None or count < 1 or periods < 1:
        raise ValueError(
            f"NEW_REQUESTS_PER_NUMBER must look like '6 per hour' (at least 1, per minute, "
            f"hour or day, such as '10 per 2 hours'), not {text!r}"
        )
    return count, timedelta(seconds=periods * PERIODS[found.group(3).lower()])


@dataclass(frozen=True)
class RoutingPolicy:
    """How requests are offered, widened and timed."""

    offer_timeout: timedelta = timedelta(seconds=20)
    max_missed_offers: int = 3
    reoffer_after: timedelta = timedelta(seconds=120)
    answer_target: timedelta = timedelta(seconds=30)
    escalation_steps: tuple[EscalationStep, ...] = field(
        default_factory=lambda: parse_escalation_steps("30:any_qualifying,60:senior_alert")
    )
    qualifying_professions: frozenset[Profession] = REGULATION_PROFESSIONS
    call_back_due: timedelta = timedelta(minutes=5)
    safeguarding_due: timedelta = timedelta(hours=24)
    presence_grace: timedelta = timedelta(seconds=30)
    #: False forbids police stations as places of safety for everyone.
    police_stations_allowed: bool = True
    detention_limit: timedelta = timedelta(hours=24)
    detention_extension: timedelta = timedelta(hours=12)
    detention_warning: timedelta = timedelta(hours=2)
    #: How long before a registration lapses the clinician and seniors are warned.
    registration_warning: timedelta = timedelta(days=28)
    #: New requests one number may open in ``new_requests_window`` before the next ones
    #: are ranked after the others of their priority (docs/DOMAIN.md#nuisance-calls).
    new_requests_per_number: int = 6
    new_requests_window: timedelta = timedelta(hours=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RoutingPolicy:
        """Build the policy from the app's settings (see ``advice_line.config``)."""
        return cls(
            offer_timeout=timedelta(seconds=config["OFFER_TIMEOUT_SECONDS"]),
            max_missed_offers=config["MAX_MISSED_OFFERS"],
            reoffer_after=timedelta(seconds=config["REOFFER_AFTER_SECONDS"]),
            answer_target=timedelta(seconds=config["ANSWER_TARGET_SECONDS"]),
            presence_grace=timedelta(seconds=config["PRESENCE_GRACE_SECONDS"]),
            escalation_steps=config["ESCALATION_STEPS"],
            police_stations_allowed=config["POLICE_STATIONS_ALLOWED"],
            detention_warning=timedelta(minutes=config["DETENTION_WARNING_MINUTES"]),
            registration_warning=timedelta(days=config["REGISTRATION_WARNING_DAYS"]),
            qualifying_professions=frozenset(
                Profession(p) for p in config["QUALIFYING_PROFESSIONS"]
            ),
            new_requests_per_number=config["NEW_REQUESTS_PER_NUMBER"][0],
            new_requests_window=config["NEW_REQUESTS_PER_NUMBER"][1],
        )

    def level_steps(self) -> list[tuple[timedelta, EscalationLevel]]:
        """Return each widening step as (waiting time, level)."""
        return [
            (timedelta(seconds=s.after_seconds), EscalationLevel(s.level))
            for s in self.escalation_steps
        ]
