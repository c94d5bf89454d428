"""Retention's pseudonymisation of old requests and their audit events.

Stores ``BENCH_RETENTION_REQUESTS`` closed requests (2,000 quick, 10,000 full) received
in 2001, each with five intake events holding a collar number and a force, then times
one retention run (``retention.due`` and ``retention.pseudonymise``, one commit): on
PostgreSQL the audit events go through ``audit_event_pseudonymise``, the owner's window.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from sqlalchemy import insert, select

from advice_line import create_app, retention
from advice_line.audit import SYSTEM
from advice_line.extensions import db
from advice_line.models import AdviceRequest, AuditEvent, Channel, Priority, RequestStatus
from advice_line.recording_store import store
from benchmarks import QUICK
from benchmarks.databases import Rows, on_each_database

REQUESTS = int(os.environ.get("BENCH_RETENTION_REQUESTS", "2000" if QUICK else "10000"))
EVENTS_PER_REQUEST = 5
RECEIVED = datetime(2001, 6, 1, 12, 0, tzinfo=UTC)


def _measure(url: str, label: str) -> Rows:
    app = create_app(
        {"TESTING": True},
        env={"ADVICE_LINE_MODE": "demo", "DATABASE_URL": url, "SCHEDULER_IN_PROCESS": "false"},
    )
    with app.app_context():
        db.create_all()
        session = db.session()
        request = {
            "channel": Channel.VOICE,
            "status": RequestStatus.CLOSED,
            "priority": Priority.ROUTINE,
            "skills_needed": [],
            "received_at": RECEIVED,
            "closed_at": RECEIVED,
            "location": "12 Acacia Avenue",
        }
        ids = session.scalars(
            insert(AdviceRequest).returning(AdviceRequest.id), [request] * REQUESTS
        ).all()
        detail = {"claimed_collar_number": "MP1234", "claimed_force": "Met", "in_dwelling": True}
        session.execute(
            insert(AuditEvent),
            [
                {
                    "occurred_at": RECEIVED,
                    "actor_kind": "system",
                    "action": "request.intake",
                    "request_id": request_id,
                    "detail": detail,
                }
                for request_id in ids
                for _ in range(EVENTS_PER_REQUEST)
            ],
        )
        session.commit()
        rules, now = retention.RetentionRules(), datetime.now(UTC)
        started = time.perf_counter()
        due = retention.due(session, now, rules)
        retention.pseudonymise(
            session, due, now=now, actor=SYSTEM, rules=rules, recordings=store(app)
        )
        session.commit()
        elapsed = time.perf_counter() - started
        run_event = select(AuditEvent.detail).where(AuditEvent.action == "retention.pseudonymised")
        stripped = session.scalars(run_event).one()["audit_details_pseudonymised"]
        db.session.remove()
        db.engine.dispose()
    events = len(due) * EVENTS_PER_REQUEST
    assert len(due) == REQUESTS, "every old request is due"
    assert stripped == events, "every event lost its collar number and force"
    return [
        (
            f"retention: {len(due):,} requests, {events:,} audit events, {label} (s)",
            f"{elapsed:.1f}",
        )
    ]


def run() -> Rows:
    """Measure on SQLite, then PostgreSQL if reachable."""
    return on_each_database(_measure)
