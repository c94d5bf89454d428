"""The routing policy: every configurable number the engine and lifecycle use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from advice_line.config import EscalationStep, parse_escalation_steps
from advice_line.models.clinician import Profession
from advice_line.models.request import EscalationLevel


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
    qualifying_professions: frozenset[Profession] = frozenset(
        {
            Profession.DOCTOR,
            Profession.NURSE,
            Profession.AMHP,
            Profession.OCCUPATIONAL_THERAPIST,
            Profession.PARAMEDIC,
        }
    )
    call_back_due: timedelta = timedelta(minutes=5)
    safeguarding_due: timedelta = timedelta(hours=24)
    follow_up_due: timedelta = timedelta(hours=24)
    presence_grace: timedelta = timedelta(seconds=30)
    police_station_for_under_18: bool = False
    police_station_needs_authorisation: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RoutingPolicy:
        """Build the policy from a Flask config (see advice_line.config)."""
        return cls(
            offer_timeout=timedelta(seconds=config["OFFER_TIMEOUT_SECONDS"]),
            max_missed_offers=config["MAX_MISSED_OFFERS"],
            reoffer_after=timedelta(seconds=config["REOFFER_AFTER_SECONDS"]),
            answer_target=timedelta(seconds=config["ANSWER_TARGET_SECONDS"]),
            presence_grace=timedelta(seconds=config["PRESENCE_GRACE_SECONDS"]),
            escalation_steps=config["ESCALATION_STEPS"],
            qualifying_professions=frozenset(
                Profession(p) for p in config["QUALIFYING_PROFESSIONS"]
            ),
        )

    def level_steps(self) -> list[tuple[timedelta, EscalationLevel]]:
        """Return each widening step as (waiting time, level)."""
        return [
            (timedelta(seconds=s.after_seconds), EscalationLevel(s.level))
            for s in self.escalation_steps
        ]
