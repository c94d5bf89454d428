"""kill -9 of the app under load, then a restart: nothing acknowledged is lost, timers fire once.

Officers keep calling and texting; the demo's phone-only clinicians are offered requests
(whisper calls placed through the fake Twilio, never answered), offers time out after
two seconds. The whole gunicorn (master and worker) is SIGKILLed, stays down longer than
an offer lasts, and is started again on the same database.

The fake Twilio holds each answer back (``TWILIO_DELAY``) after recording the call or
message, and the kill waits for a moment when outbox rows are open, so it finds rows
committed but not yet placed and rows out at Twilio whose answer never came. Counted at
the fake Twilio afterwards: every row is settled, and every call or message Twilio
accepted is exactly one row's (none lost, none twice).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from advice_line.models import (
    OPEN_STATES,
    AdviceRequest,
    AuditEvent,
    CallLeg,
    Message,
    Offer,
    OutboxItem,
    OutboxState,
    Timer,
)
from advice_line.models.request import OfferOutcome, RequestStatus
from drills.harness import ACCOUNT, TOKEN, AppServer, Findings, app_env, migrate_and_seed
from drills.load import OfficerLoad
from tests.fake_twilio import FakeTwilio

OFFER_SECONDS = 2
LATE_SECONDS = 5  # an offer that expired while down must time out this soon after
TWILIO_DELAY = 0.3  # seconds the fake Twilio takes to answer, after recording
LEASE_SECONDS = 15  # a dead process's claim on an outbox row lapses after this
SETTINGS = {
    "SCHEDULER_IN_PROCESS": "true",
    "SCHEDULER_INTERVAL_MS": "100",
    "OFFER_TIMEOUT_SECONDS": str(OFFER_SECONDS),
    "MAX_MISSED_OFFERS": "1000",
    "REOFFER_AFTER_SECONDS": "0",
    "ANSWER_TARGET_SECONDS": "3",
    "ESCALATION_STEPS": "2:any_qualifying,4:senior_alert",
    "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
}


def run(database_url: str, label: str, folder: Path, *, load_seconds: float = 6) -> Findings:
    """Load, kill -9, stay down past the offer timeout, restart, load again, then check."""
    twilio = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN, delay=TWILIO_DELAY)
    findings = Findings()
    twilio.start()
    env = app_env(database_url, twilio.base_url, **SETTINGS)
    migrate_and_seed(env)
    server = AppServer(env, folder / f"kill9-{label}.log")
    server.start()
    load = OfficerLoad(server.base)
    load.start()
    engine = create_engine(database_url)
    try:
        time.sleep(load_seconds)
        _until_rows_are_open(engine)
        server.kill()
        killed_at = datetime.now(UTC)
        with Session(engine) as session:
            pending = set(session.scalars(select(Offer.id).where(Offer.outcome.is_(None))))
            in_flight = dict(
                session.execute(
                    select(OutboxItem.id, OutboxItem.state).where(OutboxItem.state.in_(OPEN_STATES))
                ).all()
            )
        time.sleep(OFFER_SECONDS + 2)
        server.start()
        restarted_at = datetime.now(UTC)
        time.sleep(load_seconds)
        load.stop()
        checked_at = _timers_caught_up(engine)
        _outbox_settled(engine, set(in_flight))
        server.stop()
        seen = load.acknowledged
        findings.figure(
            f"{label}: acknowledged SMS / calls opened / calls queued / refused while down",
            f"{len(seen.messages)} / {len(seen.calls_opened)} / {len(seen.calls_queued)}"
            f" / {seen.refused}",
        )
        findings.figure(
            f"{label}: down for (s)", f"{(restarted_at - killed_at).total_seconds():.1f}"
        )
        with Session(engine) as session:
            _check_nothing_lost(session, findings, label, load)
            _check_offers_moved_on(session, findings, label, pending, killed_at, restarted_at)
            _check_timers(session, findings, label, checked_at)
            _check_outbox(session, findings, label, twilio, in_flight)
    finally:
        load.stop()
        server.stop()
        engine.dispose()
        twilio.stop()
    log = server.log()
    findings.figure(
        f"{label}: outbox rows found in Twilio's list after the restart (not placed again)",
        str(log.count("had reached Twilio")),
    )
    findings.check(
        f"{label}: server log free of tracebacks", "Traceback" not in log, server.log_path.name
    )
    return findings


def _timers_caught_up(engine: Engine, patience: float = 20) -> datetime:
    """Wait (a while) until no timer is overdue; return when it was last looked at."""
    deadline = time.monotonic() + patience
    while True:
        now = datetime.now(UTC)
        with Session(engine) as session:
            overdue = session.scalar(
                select(func.count(Timer.id)).where(
                    Timer.fired_at.is_(None), Timer.due_at < now - timedelta(seconds=1)
                )
            )
        if not overdue or time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def _until_rows_are_open(engine: Engine, patience: float = 15) -> None:
    """Wait (a while) for outbox rows waiting or out at Twilio, so the kill lands on some."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with Session(engine) as session:
            if session.scalar(
                select(func.count(OutboxItem.id)).where(OutboxItem.state.in_(OPEN_STATES))
            ):
                return
        time.sleep(0.05)


def _outbox_settled(engine: Engine, ids: set[int], patience: float = LEASE_SECONDS + 15) -> None:
    """Wait (a while) until the rows open at the kill are settled (a claim lapses first)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with Session(engine) as session:
            waiting = session.scalar(
                select(func.count(OutboxItem.id)).where(
                    OutboxItem.id.in_(ids), OutboxItem.state.in_(OPEN_STATES)
                )
            )
        if not waiting:
            return
        time.sleep(0.5)


def _check_outbox(
    session: Session,
    findings: Findings,
    label: str,
    twilio: FakeTwilio,
    in_flight: dict[int, OutboxState],
) -> None:
    """The rows open at the kill all settled; Twilio got each call or message once."""
    at_kill = Counter(in_flight.values())
    findings.figure(
        f"{label}: outbox rows waiting / out at Twilio when killed",
        f"{at_kill[OutboxState.PENDING]} / {at_kill[OutboxState.SENDING]}",
    )
    settled = dict(
        session.execute(
            select(OutboxItem.id, OutboxItem.state).where(OutboxItem.id.in_(in_flight))
        ).all()
    )
    still_open = [i for i, state in settled.items() if state in OPEN_STATES]
    findings.check(
        f"{label}: every outbox row open at the kill settled after the restart (none lost)",
        bool(in_flight) and not still_open,
        ", ".join(f"{n} {state}" for state, n in Counter(settled.values()).items()),
    )
    rows = session.execute(select(OutboxItem.state, OutboxItem.twilio_sid)).all()
    recorded = {sid for state, sid in rows if state == OutboxState.SENT and sid is not None}
    accepted = [*twilio.calls(), *twilio.messages()]
    asked = Counter((r.form["To"], r.form.get("Url") or r.form.get("Body")) for r in accepted)
    twice = [key for key, count in asked.items() if count > 1]
    lost = recorded - {r.sid for r in accepted}
    unrecorded = len(accepted) - len(recorded & {r.sid for r in accepted})
    findings.check(
        f"{label}: no call or message reached the fake Twilio twice; every sent row's is there",
        bool(accepted) and not twice and not lost,
        f"{len(accepted)} accepted, {len(recorded)} rows sent, {len(twice)} twice; "
        f"{unrecorded} still out when the server was stopped at the end",
    )


def _check_nothing_lost(
    session: Session, findings: Findings, label: str, load: OfficerLoad
) -> None:
    seen = load.acknowledged
    stored = dict(
        session.execute(
            select(Message.message_sid, Message.request_id).where(
                Message.message_sid.in_(seen.messages)
            )
        ).all()
    )
    lost = [sid for sid, number in seen.messages.items() if stored.get(sid) != number]
    findings.check(
        f"{label}: every acknowledged SMS stored with its request",
        not lost and bool(seen.messages),
        f"{len(seen.messages) - len(lost)} of {len(seen.messages)}",
    )
    statuses = dict(
        session.execute(
            select(CallLeg.call_sid, AdviceRequest.status)
            .join(AdviceRequest, AdviceRequest.id == CallLeg.request_id)
            .where(CallLeg.call_sid.in_(seen.calls_opened))
        ).all()
    )
    missing = seen.calls_opened - statuses.keys()
    unqueued = [sid for sid in seen.calls_queued if statuses.get(sid) == RequestStatus.RECEIVED]
    findings.check(
        f"{label}: every answered call has its request; every queued one left 'received'",
        not missing and not unqueued and bool(seen.calls_queued),
        f"{len(missing)} missing, {len(unqueued)} not queued, of {len(seen.calls_opened)}",
    )


def _check_offers_moved_on(
    session: Session,
    findings: Findings,
    label: str,
    pending: set[int],
    killed_at: datetime,
    restarted_at: datetime,
) -> None:
    expired_while_down = session.scalars(
        select(Offer).where(Offer.id.in_(pending), Offer.expires_at < restarted_at)
    ).all()
    stuck = [o.id for o in expired_while_down if o.outcome is None]
    late = [
        o.id
        for o in expired_while_down
        if o.responded_at is not None
        and o.responded_at > restarted_at + timedelta(seconds=LATE_SECONDS)
    ]
    findings.check(
        f"{label}: offers that expired while down timed out after the restart",
        bool(expired_while_down) and not stuck and not late,
        f"{len(expired_while_down)} offers; {len(stuck)} still pending, {len(late)} late",
    )
    newer = session.scalar(select(func.count(Offer.id)).where(Offer.offered_at > restarted_at))
    findings.check(
        f"{label}: the queue moved on (offers made after the restart)",
        bool(newer),
        f"{newer} new offers",
    )


def _check_timers(session: Session, findings: Findings, label: str, checked_at: datetime) -> None:
    due = session.scalars(select(Timer).where(Timer.due_at < checked_at - timedelta(seconds=1)))
    timers = list(due)
    unfired = [t.id for t in timers if t.fired_at is None]
    repeated = [t.id for t in timers if t.attempts != 1 and t.fired_at is not None]
    findings.check(
        f"{label}: every due timer fired, each on its first attempt",
        bool(timers) and not unfired and not repeated,
        f"{len(timers)} timers; {len(unfired)} unfired, {len(repeated)} fired more than once",
    )
    events = session.execute(
        select(AuditEvent.action, AuditEvent.subject_id, AuditEvent.detail).where(
            AuditEvent.action.in_(
                ("offer.timed_out", "request.widened", "request.answer_target_breached")
            )
        )
    ).all()
    counts = Counter(
        (action, subject, detail.get("to") if action == "request.widened" else None)
        for action, subject, detail in events
    )
    twice = [key for key, count in counts.items() if count > 1]
    timed_out = session.scalar(
        select(func.count(Offer.id)).where(Offer.outcome == OfferOutcome.TIMED_OUT)
    )
    audited = sum(1 for action, _, _ in events if action == "offer.timed_out")
    findings.check(
        f"{label}: each expiry, widening and breach audited exactly once",
        not twice and timed_out == audited,
        f"{len(events)} events, {len(twice)} repeated; {timed_out} offers timed out, "
        f"{audited} audited",
    )
