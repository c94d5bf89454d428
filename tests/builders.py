"""Builders for test data, with a fixed clock at 03:00 on a November night."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import example_registration
from advice_line.models import (
    AdviceRequest,
    Channel,
    Clinician,
    ClinicianSkill,
    ClinicianStatus,
    CommunityRoute,
    OutcomeCode,
    Profession,
    Role,
    Shift,
    Skill,
    User,
)
from advice_line.models.clinician import REGISTRATION_BODIES

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
ACTOR = Actor("test")
POLICY = RoutingPolicy()
_numbers = itertools.count(1)


def add_clinician(
    session: Session,
    *,
    profession: Profession = Profession.NURSE,
    skills: Iterable[Skill] = (),
    status: ClinicianStatus = ClinicianStatus.AVAILABLE,
    idle_since: datetime | None = None,
    on_shift: bool = True,
    role: Role = Role.CLINICIAN,
    registered: bool = True,
    on_console: bool = True,
    shift_around: datetime = T0,
) -> Clinician:
    """Add a clinician (with a staff account) on a shift around ``shift_around`` unless not."""
    number = next(_numbers)
    bodies = sorted(REGISTRATION_BODIES[profession])
    user = User(
        username=f"clinician{number}",
        display_name=f"Clinician {number}",
        password_hash="not-a-real-hash",
        role=role,
        created_at=T0 - timedelta(days=30),
    )
    shift_start = shift_around + timedelta(hours=-6 if on_shift else 6)
    clinician = Clinician(
        user=user,
        profession=profession,
        registration_body=bodies[0] if registered and bodies else None,
        registration_number=(
            example_registration(profession, bodies[0], number) if registered and bodies else None
        ),
        phone=f"+4477009{number:05d}",
        status=status,
        on_console=on_console,
        status_changed_at=T0 - timedelta(hours=1),
        idle_since=idle_since or T0 - timedelta(minutes=30) + timedelta(seconds=number),
        skills=[ClinicianSkill(skill=s) for s in skills],
        shifts=[Shift(starts_at=shift_start, ends_at=shift_start + timedelta(hours=12))],
    )
    session.add(clinician)
    session.flush()
    return clinician


def add_request(
    session: Session,
    *,
    now: datetime = T0,
    queue: bool = True,
    risk_to_life: bool = False,
    under_18: bool | None = None,
    in_dwelling: bool | None = False,
    skills: Iterable[Skill] = (),
    policy: RoutingPolicy = POLICY,
) -> AdviceRequest:
    """Create a request (queued unless told not) through the domain functions."""
    request = lifecycle.create_request(
        session,
        lifecycle.NewRequest(
            channel=Channel.VOICE,
            risk_to_life=risk_to_life,
            subject_under_18=under_18,
            in_dwelling=in_dwelling,
            skills_needed=frozenset(skills),
            location="High Street",
        ),
        now=now,
        actor=ACTOR,
    )
    if queue:
        lifecycle.queue_request(session, request.id, now=now, actor=ACTOR, policy=policy)
    return request


def complete_input(**changes: object) -> lifecycle.RecordInput:
    """A valid community-route record, with changes applied."""
    values: dict[str, object] = {
        "outcome": OutcomeCode.COMMUNITY_ROUTE,
        "community_route": CommunityRoute.CRISIS_TEAM,
        "destination": "Home with the crisis team visiting tonight",
        "rationale": "Calm, engaged, has support at home; no immediate risk.",
        "safeguarding": dict.fromkeys(lifecycle.SAFEGUARDING_QUESTIONS, False),
    }
    values.update(changes)
    return lifecycle.RecordInput(**values)  # type: ignore[arg-type]


def wrapped_up(session: Session, **request_options: Any) -> tuple[AdviceRequest, int]:
    """A request a new clinician took, talked on and ended: its record is next."""
    clinician = add_clinician(session)
    request = add_request(session, **request_options)
    lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    lifecycle.connect(session, request.id, now=T0, actor=ACTOR)
    lifecycle.end_call(session, request.id, now=T0, actor=ACTOR)
    session.commit()
    return request, clinician.id
