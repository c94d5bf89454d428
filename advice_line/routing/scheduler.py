"""Durable timers fired exactly once, and the routing pass, in a loop.

Timers are rows; a scheduler claims one due timer at a time with ``FOR UPDATE SKIP
LOCKED`` (PostgreSQL) or under SQLite's single writer lock, marks it fired and acts in
the same transaction, so several schedulers on one database never fire a timer twice and
a restart forgets nothing.

Other duties (replaying the spool, the outbox's sender: they talk to Flask and Twilio, so
are not the domain's)
are handed in by whoever builds the scheduler and run at the start of each tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRequest,
    EscalationLevel,
    Offer,
    SchedulerTick,
    Timer,
    TimerKind,
)
from advice_line.routing.engine import dispatch

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
DETENTION_TIMERS = frozenset({TimerKind.DETENTION_WARNING, TimerKind.DETENTION_LIMIT})
RETRY_BACKOFF = timedelta(seconds=5)
#: How often a scheduler records that it ticks, and how long a silent one's row is kept.
TICK_NOTED_EVERY = timedelta(seconds=5)
TICKS_KEPT = timedelta(days=1)


def timer_backlog(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """Count the timers due and not fired, and say when the oldest of them fell due."""
    due, oldest = session.execute(
        select(func.count(Timer.id), func.min(Timer.due_at)).where(
            Timer.fired_at.is_(None), Timer.due_at <= now
        )
    ).one()
    return due, oldest


def last_tick(session: Session) -> datetime | None:
    """When any scheduler last finished a tick (None if none ever did)."""
    return session.scalar(select(func.max(SchedulerTick.ticked_at)))


def note_tick(session: Session, name: str, now: datetime) -> None:
    """Record that the scheduler ``name`` finished a tick; forget long-silent ones."""
    tick = session.get(SchedulerTick, name)
    if tick is None:
        session.add(SchedulerTick(name=name, ticked_at=now))
    else:
        tick.ticked_at = now
    session.execute(delete(SchedulerTick).where(SchedulerTick.ticked_at < now - TICKS_KEPT))


def fire_timer(
    session: Session, timer: Timer, *, now: datetime, policy: RoutingPolicy, actor: Actor
) -> None:
    """Act on a due timer, if what it guards still needs acting on."""
    if timer.kind in DETENTION_TIMERS:
        lifecycle.check_detention_clock(session, timer, now=now, actor=actor, policy=policy)
        return
    request = session.get(AdviceRequest, timer.request_id)
    if request is None or request.status not in lifecycle.WAITING:
        return
    if timer.kind == TimerKind.OFFER_EXPIRY:
        offer = session.get(Offer, timer.offer_id)
        if offer is not None and offer.outcome is None:
            lifecycle.expire_offer(session, offer.id, now=now, actor=actor, policy=policy)
    elif timer.kind == TimerKind.ESCALATION:
        levels = list(EscalationLevel)
        assert timer.escalation_level is not None
        level = timer.escalation_level
        if levels.index(level) > levels.index(request.escalation_level):
            lifecycle.widen(session, request.id, level, now=now, actor=actor)
    elif timer.kind == TimerKind.ANSWER_TARGET and request.answer_target_breached_at is None:
        lifecycle.mark_answer_target_breached(session, request.id, now=now, actor=actor)


class Scheduler:
    """Fire due timers and offer queued requests, once per tick."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        policy: RoutingPolicy,
        *,
        name: str,
        interval: float = 0.5,
        clock: Callable[[], datetime] = utcnow,
        context: Callable[[], AbstractContextManager[object]] = nullcontext,
        duties: Sequence[Callable[[datetime], object]] = (),
    ) -> None:
        self.session_factory = session_factory
        self.policy = policy
        self.name = name
        self.interval = interval
        self.clock = clock
        self.actor = Actor("scheduler", source=name)
        self.stopping = threading.Event()
        self.context = context
        self.duties = duties
        self.tick_noted_at: datetime | None = None

    def fire_due_timers(self, limit: int = 1000) -> int:
        """Fire due timers one per transaction; return how many were fired."""
        fired = 0
        while fired < limit:
            now = self.clock()
            timer_id: int | None = None
            with self.session_factory() as session:
                try:
                    with session.begin():
                        timer = session.scalars(
                            select(Timer)
                            .where(Timer.fired_at.is_(None), Timer.due_at <= now)
                            .order_by(Timer.due_at, Timer.id)
                            .limit(1)
                            .with_for_update(skip_locked=True)
                        ).first()
                        if timer is None:
                            return fired
                        timer_id = timer.id
                        timer.fired_at = now
                        timer.fired_by = self.name
                        timer.attempts += 1
                        fire_timer(session, timer, now=now, policy=self.policy, actor=self.actor)
                except Exception as error:
                    if timer_id is None:
                        raise
                    log.exception("timer %s failed", timer_id)
                    self._record_failure(timer_id, error, now)
            fired += 1
        return fired

    def _record_failure(self, timer_id: int, error: Exception, now: datetime) -> None:
        with self.session_factory() as session, session.begin():
            timer = session.get(Timer, timer_id, with_for_update=True)
            if timer is None or timer.fired_at is not None:
                return
            timer.attempts += 1
            timer.last_error = f"{type(error).__name__}: {error}"[:500]
            if timer.attempts >= MAX_ATTEMPTS:
                timer.fired_at = now
                timer.fired_by = f"{self.name} (gave up)"
                log.error("timer %s gave up after %s attempts", timer_id, timer.attempts)
            else:
                timer.due_at = now + RETRY_BACKOFF * timer.attempts

    def dispatch(self) -> int:
        """Offer queued requests to eligible clinicians; return how many offers were made."""
        with self.session_factory() as session, session.begin():
            return len(dispatch(session, now=self.clock(), policy=self.policy, actor=self.actor))

    def sweep_presence(self) -> int:
        """Set offline the clinicians whose console went quiet; return how many."""
        with self.session_factory() as session, session.begin():
            lost = lifecycle.sweep_lost_consoles(
                session, now=self.clock(), actor=self.actor, policy=self.policy
            )
        return len(lost)

    def tick(self) -> None:
        """Do the duties (replay the spool, place what the outbox holds), fire due timers,
        notice lost consoles, then route (in the app's context)."""
        with self.context():
            for duty in self.duties:
                try:
                    duty(self.clock())
                except Exception:
                    log.exception("scheduler %s: a duty failed", self.name)
            self.fire_due_timers()
            self.sweep_presence()
            self.dispatch()
            self._note_tick()

    def _note_tick(self) -> None:
        """Record a finished tick (every few seconds: metrics show a scheduler's lag)."""
        now = self.clock()
        if self.tick_noted_at is not None and now - self.tick_noted_at < TICK_NOTED_EVERY:
            return
        with self.session_factory() as session, session.begin():
            note_tick(session, self.name, now)
        self.tick_noted_at = now

    def run_forever(self) -> None:
        """Tick every interval until ``stop`` is called; errors are logged, never fatal."""
        log.info("scheduler %s started", self.name)
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler %s tick failed", self.name)
            self.stopping.wait(self.interval)
        log.info("scheduler %s stopped", self.name)

    def stop(self) -> None:
        """Ask the loop to finish after the current tick."""
        self.stopping.set()
