"""Routing decision time with 1,000 clinicians and 1,000 queued requests.

A decision is one ``choose_clinician`` call for a queued request: the query that picks
the longest-idle eligible clinician. Measured for many different requests, each in its
own transaction, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from advice_line import create_app, lifecycle
from advice_line.audit import Actor
from advice_line.extensions import db
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import example_registration
from advice_line.models import (
    AdviceRequest,
    Channel,
    Clinician,
    ClinicianSkill,
    ClinicianStatus,
    Profession,
    RegistrationBody,
    Role,
    Shift,
    Skill,
    User,
)
from advice_line.routing.engine import choose_clinician, dispatch, queue_order
from benchmarks.databases import on_each_database

CLINICIANS = 1000
REQUESTS = 1000
DECISIONS = 500
PROFESSIONS = [
    (Profession.NURSE, RegistrationBody.NMC),
    (Profession.DOCTOR, RegistrationBody.GMC),
    (Profession.AMHP, RegistrationBody.SWE),
    (Profession.PARAMEDIC, RegistrationBody.HCPC),
    (Profession.SUPPORT_WORKER, None),
]
STATUSES = [ClinicianStatus.AVAILABLE] * 5 + [
    ClinicianStatus.ON_CALL,
    ClinicianStatus.WRAP_UP,
    ClinicianStatus.AWAY,
    ClinicianStatus.OFFLINE,
]


def _seed(session: Session, now: datetime, rng: random.Random) -> None:
    for number in range(CLINICIANS):
        profession, body = rng.choice(PROFESSIONS)
        user = User(
            username=f"bench{number}",
            display_name=f"Bench {number}",
            password_hash="-",  # noqa: S106 - benchmark accounts never sign in
            role=Role.CLINICIAN,
            created_at=now,
        )
        start = now - timedelta(hours=rng.choice([1, 4, 10, 14]))
        session.add(
            Clinician(
                user=user,
                profession=profession,
                registration_body=body,
                registration_number=example_registration(profession, body, number)
                if body
                else None,
                status=rng.choice(STATUSES),
                status_changed_at=now,
                idle_since=now - timedelta(seconds=rng.randrange(1, 36000)),
                skills=[ClinicianSkill(skill=s) for s in rng.sample(list(Skill), rng.randrange(3))],
                shifts=[Shift(starts_at=start, ends_at=start + timedelta(hours=12))],
            )
        )
    session.flush()
    actor, policy = Actor("bench"), RoutingPolicy()
    for number in range(REQUESTS):
        waited = now - timedelta(seconds=REQUESTS - number)
        request = lifecycle.create_request(
            session,
            lifecycle.NewRequest(
                channel=Channel.VOICE,
                risk_to_life=rng.random() < 0.1,
                subject_under_18=rng.random() < 0.1,
                skills_needed=frozenset(rng.sample(list(Skill), rng.choice([0, 0, 0, 1]))),
            ),
            now=waited,
            actor=actor,
        )
        lifecycle.queue_request(session, request.id, now=waited, actor=actor, policy=policy)
    session.commit()


def _measure(url: str, label: str) -> list[tuple[str, str]]:
    app = create_app(
        {"TESTING": True, "JOBS_INLINE": True},
        env={"ADVICE_LINE_MODE": "demo", "DATABASE_URL": url, "SCHEDULER_IN_PROCESS": "false"},
    )
    rng = random.Random(136)
    now = datetime.now(UTC)
    policy = RoutingPolicy()
    with app.app_context():
        db.create_all()
        session = db.session()
        _seed(session, now, rng)
        request_ids = list(session.scalars(queue_order()))
        timings = []
        for request_id in rng.sample(request_ids, DECISIONS):
            request = session.get_one(AdviceRequest, request_id)
            started = time.perf_counter()
            choose_clinician(session, request, now=now, policy=policy)
            timings.append((time.perf_counter() - started) * 1000)
            session.rollback()
        started = time.perf_counter()
        offers = dispatch(session, now=now, policy=policy, actor=Actor("bench"))
        session.flush()
        full_pass = (time.perf_counter() - started) * 1000
        session.commit()  # runs the console pushes inline, before the schema is dropped
        db.session.remove()
        db.engine.dispose()
    quantiles = statistics.quantiles(timings, n=100)
    return [
        (f"routing decision p50, {label} (ms)", f"{quantiles[49]:.2f}"),
        (f"routing decision p99, {label} (ms)", f"{quantiles[98]:.2f}"),
        (f"full routing pass, {label} ({len(offers)} offers made) (ms)", f"{full_pass:.0f}"),
    ]


def run() -> list[tuple[str, str]]:
    """Measure on SQLite, then PostgreSQL if reachable."""
    sizes = ("clinicians / queued requests", f"{CLINICIANS} / {REQUESTS}")
    return [sizes, *on_each_database(_measure)]
