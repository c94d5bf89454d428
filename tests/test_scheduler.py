"""Durable timers: fired exactly once, by several schedulers, across restarts and processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from advice_line.extensions import db
from advice_line.models import (
    AdviceRequest,
    AuditEvent,
    Clinician,
    Offer,
    OfferOutcome,
    RequestStatus,
    Timer,
    TimerKind,
)
from advice_line.routing import scheduler as scheduler_module
from advice_line.routing.engine import dispatch
from advice_line.routing.scheduler import MAX_ATTEMPTS, Scheduler
from tests.builders import ACTOR, POLICY, T0, add_clinician, add_request
from tests.conftest import demo_env

AppMaker = Callable[..., Flask]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 30


def offered_requests(session: Session, count: int) -> None:
    """Queue ``count`` requests at T0 and offer each to its own clinician."""
    for _ in range(count):
        add_clinician(session)
        add_request(session)
    dispatch(session, now=T0, policy=POLICY, actor=ACTOR)
    session.commit()


def audit_count(session: Session, action: str) -> int:
    return session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == action)) or 0


def scheduler_on(app: Flask, name: str, now: datetime) -> Scheduler:
    with app.app_context():
        engine = db.engine
    return Scheduler(sessionmaker(bind=engine), POLICY, name=name, clock=lambda: now)


def test_two_schedulers_on_one_database_fire_each_timer_exactly_once(
    database_url: str, app_maker: AppMaker
) -> None:
    first_app, second_app = app_maker(database_url), app_maker(database_url)
    with first_app.app_context():
        offered_requests(db.session(), REQUESTS)
        total = db.session.scalar(select(func.count(Timer.id)))
    assert total == REQUESTS * 4  # offer expiry, answer target, two escalations
    later = T0 + timedelta(minutes=2)
    schedulers = [scheduler_on(first_app, "one", later), scheduler_on(second_app, "two", later)]
    barrier = threading.Barrier(2)
    fired: dict[str, int] = {}

    def run(scheduler: Scheduler) -> None:
        barrier.wait()
        fired[scheduler.name] = scheduler.fire_due_timers()

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(fired.values()) == total
    with first_app.app_context():
        session = db.session()
        assert session.scalar(select(func.count(Timer.id)).where(Timer.fired_at.is_(None))) == 0
        assert audit_count(session, "offer.timed_out") == REQUESTS
        assert audit_count(session, "request.answer_target_breached") == REQUESTS
        assert audit_count(session, "request.widened") == 2 * REQUESTS
        assert set(session.scalars(select(Clinician.missed_offers_in_row))) == {1}
        assert set(session.scalars(select(Timer.fired_by))) <= {"one", "two"}


def test_after_a_restart_nothing_is_forgotten(database_url: str, app_maker: AppMaker) -> None:
    before = app_maker(database_url)
    with before.app_context():
        session = db.session()
        first = add_clinician(session, idle_since=T0 - timedelta(hours=1))
        second = add_clinician(session, idle_since=T0)
        request = add_request(session)
        dispatch(session, now=T0, policy=POLICY, actor=ACTOR)
        session.commit()
        ids = (first.id, second.id, request.id)
        db.session.remove()
        db.engine.dispose()  # the process stops with an offer pending
    after = app_maker(database_url)
    scheduler = scheduler_on(after, "restarted", T0 + timedelta(minutes=5))
    scheduler.tick()
    with after.app_context():
        session = db.session()
        offers = session.scalars(select(Offer).order_by(Offer.id)).all()
        assert [(o.clinician_id, o.outcome) for o in offers] == [
            (ids[0], OfferOutcome.TIMED_OUT),
            (ids[1], None),
        ]
        request = session.get_one(AdviceRequest, ids[2])
        assert request.status == RequestStatus.OFFERED
        assert request.answer_target_breached_at == T0 + timedelta(minutes=5)


def test_a_failing_timer_is_retried_then_given_up_without_blocking_the_others(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_request(session)
    session.commit()
    real_fire = scheduler_module.fire_timer

    def fire_or_fail(session: Session, timer: Timer, **kwargs: object) -> None:
        if timer.kind.value == "answer_target":
            raise RuntimeError("simulated fault")
        real_fire(session, timer, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scheduler_module, "fire_timer", fire_or_fail)
    now = T0 + timedelta(minutes=2)
    scheduler = Scheduler(sessionmaker(bind=db.engine), POLICY, name="t", clock=lambda: now)
    for _ in range(MAX_ATTEMPTS):
        scheduler.fire_due_timers()
        now += timedelta(minutes=1)
    session.expire_all()
    timers = {t.kind.value: t for t in session.scalars(select(Timer))}
    assert timers["answer_target"].attempts == MAX_ATTEMPTS
    assert timers["answer_target"].last_error == "RuntimeError: simulated fault"
    assert timers["answer_target"].fired_by == "t (gave up)"
    assert timers["escalation"].attempts == 1
    assert audit_count(session, "request.widened") == 2


def _run_flask(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "advice_line", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_flask_scheduler_runs_as_its_own_process(database_url: str, app_maker: AppMaker) -> None:
    app = app_maker(database_url)
    with app.app_context():
        session = db.session()
        now = datetime.now(tz=T0.tzinfo)
        add_clinician(session, shift_around=now)  # the process runs on the real clock
        add_request(session, now=now - timedelta(minutes=2))
        session.commit()
    env = demo_env(database_url, SCHEDULER_INTERVAL_MS="100")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "advice_line", "scheduler"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with app.app_context():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                db.session.rollback()
                request = db.session.scalars(select(AdviceRequest)).one()
                if request.status == RequestStatus.OFFERED:  # routed after its timers fired
                    break
                time.sleep(0.1)
            assert request.status == RequestStatus.OFFERED
            unfired = db.session.scalars(select(Timer.kind).where(Timer.fired_at.is_(None))).all()
            assert unfired == [TimerKind.OFFER_EXPIRY]
            assert request.answer_target_breached_at is not None
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped" in output


def test_flask_scheduler_once_fires_due_timers_and_exits(
    tmp_path: Path, app_maker: AppMaker
) -> None:
    url = f"sqlite:///{tmp_path / 'once.sqlite3'}"
    app = app_maker(url)
    with app.app_context():
        add_request(db.session(), now=datetime.now(tz=T0.tzinfo) - timedelta(minutes=5))
        db.session.commit()
    result = _run_flask(["scheduler", "--once"], demo_env(url))
    assert result.returncode == 0, result.stderr
    with app.app_context():
        assert db.session.scalar(select(func.count(Timer.id)).where(Timer.fired_at.is_(None))) == 0
