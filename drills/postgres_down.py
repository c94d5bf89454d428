"""PostgreSQL goes down mid-load and comes back: nothing is lost meanwhile, then reconnection.

While the database is down, incoming calls get the fallback, SMS are kept in the local
spool (the officer is told so), and the officers waiting in the queue hang up (their
status callbacks are kept too). When it is back, every SMS sent during the outage must be
in the database exactly once (and its late reply sent once), every call that ended during
the outage marked abandoned with one call-back task, and the spool empty.

The drill runs against a private cluster stopped with ``pg_ctl -m immediate`` (as a crash
would) and started again; the test runs it through a TCP proxy in front of the shared
server that it cuts (every connection reset, new ones refused) and restores.
"""

from __future__ import annotations

import itertools
import re
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from advice_line.models import (
    AdviceRequest,
    AuditEvent,
    CallLeg,
    Message,
    Offer,
    RequestStatus,
    Task,
    TaskKind,
)
from advice_line.spool import Spool
from drills.harness import (
    ACCOUNT,
    FALLBACK,
    TOKEN,
    AppServer,
    Findings,
    PrivatePostgres,
    TcpProxy,
    app_env,
    migrate_and_seed,
    new_sid,
    signed_post,
)
from drills.load import OfficerLoad
from tests.fake_twilio import FakeTwilio

RECOVERY_SECONDS = 10
DRAIN_SECONDS = 60
NORMAL = {("voice", 200, "question"), ("sms", 200, "opened"), ("health", 200, "ok")}


class Outage(Protocol):
    """A PostgreSQL the drill can take away and give back."""

    url: str

    def cut(self) -> None:
        """Take the database away."""

    def restore(self) -> None:
        """Give it back."""


class PrivateCluster:
    """A private cluster: stop it as a crash would, start it again."""

    def __init__(self, cluster: PrivatePostgres) -> None:
        self.cluster = cluster
        self.url = cluster.url

    def cut(self) -> None:
        """Stop immediately (no checkpoint, every connection cut)."""
        self.cluster.stop("immediate")

    def restore(self) -> None:
        """Start again (crash recovery)."""
        self.cluster.start()


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """Yield a started private cluster; remove it afterwards."""
    cluster = PrivatePostgres()
    try:
        cluster.start()
        yield PrivateCluster(cluster)
    finally:
        cluster.remove()


class ProxiedPostgres:
    """A private schema on a shared server, reached through a proxy the drill can cut."""

    def __init__(self, schema_url: str) -> None:
        url = make_url(schema_url)
        assert url.port is not None or url.host is not None
        self.proxy = TcpProxy(url.port or 5432)
        self.proxy.start()
        self.url = url.set(host="127.0.0.1", port=self.proxy.port).render_as_string(
            hide_password=False
        )

    def cut(self) -> None:
        """Reset every connection and refuse new ones."""
        self.proxy.cut()

    def restore(self) -> None:
        """Accept connections again."""
        self.proxy.start()


@contextmanager
def proxied(schema_url: str) -> Iterator[ProxiedPostgres]:
    """Yield the database at ``schema_url`` behind a proxy; cut it for good afterwards."""
    proxied = ProxiedPostgres(schema_url)
    try:
        yield proxied
    finally:
        proxied.proxy.cut()


@dataclass
class Answer:
    """One probe: when it was sent and answered, what was asked, and the answer."""

    sent: float
    answered: float
    kind: str
    status: int
    what: str
    sid: str = ""
    sender: str = ""


@dataclass
class Probe:
    """Twilio ringing the line and the load balancer polling /healthz, every 0.2 s."""

    base: str
    answers: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Probe until stopped."""
        while not self.stopping.wait(0.2):
            for kind in ("voice", "sms", "health"):
                self._ask(kind)

    def _ask(self, kind: str) -> None:
        sent, sid, sender = time.monotonic(), "", ""
        try:
            if kind == "voice":
                sid, sender = new_sid("CA"), next_officer()
                call = signed_post(self.base, "/twilio/voice", {"CallSid": sid, "From": sender})
                status, what = call.status_code, _kind_of_answer(call.text)
            elif kind == "sms":
                sid, sender = new_sid("SM"), next_officer()
                params = {"MessageSid": sid, "From": sender, "Body": "help"}
                message = signed_post(self.base, "/twilio/sms", params)
                status, what = message.status_code, _kind_of_answer(message.text)
            else:
                health = requests.get(self.base + "/healthz", timeout=10)
                status, what = health.status_code, health.json()["status"]
        except requests.RequestException as error:
            status, what = 0, type(error).__name__
        self.answers.append(Answer(sent, time.monotonic(), kind, status, what, sid, sender))


UNSEEN_NUMBERS = itertools.count(50000)


def next_officer() -> str:
    """Return a phone number the line has not seen, so each call or message opens a request
    (a second one from a number with a request in progress would join it)."""
    return f"+4477009{next(UNSEEN_NUMBERS):05d}"


def _kind_of_answer(twiml: str) -> str:
    if "<Gather" in twiml:
        return "question"
    if "<Message>Advice Line: your request is AL-" in twiml:
        return "opened"
    if "your message is received" in twiml and FALLBACK in twiml:
        return "kept"
    if "cannot take messages right now" in twiml and FALLBACK in twiml:
        return "fallback"
    if f"<Dial>{FALLBACK}</Dial>" in twiml and "cannot take your call" in twiml:
        return "fallback"
    return "other: " + twiml[:200]


def run(outage: Outage, folder: Path, *, outage_seconds: float = 6) -> Findings:
    """Load, take the database away, probe, give it back, check the app recovers."""
    findings = Findings()
    twilio = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    twilio.start()
    env = app_env(
        outage.url,
        twilio.base_url,
        SCHEDULER_IN_PROCESS="true",
        SCHEDULER_INTERVAL_MS="100",
        OFFER_TIMEOUT_SECONDS="2",
        MAX_MISSED_OFFERS="1000",
        REOFFER_AFTER_SECONDS="0",
    )
    spool_path = folder / "spool" / "spool.sqlite3"
    env["SPOOL_PATH"] = str(spool_path)
    migrate_and_seed(env)
    server = AppServer(env, folder / "postgres-down.log")
    server.start()
    load = OfficerLoad(server.base)
    probe = Probe(server.base)
    prober = threading.Thread(target=probe.run, daemon=True)
    hang_ups: dict[str, int] = {}
    try:
        load.start()
        prober.start()
        time.sleep(3)
        outage.cut()
        cut_at = time.monotonic()
        with load.acknowledged.lock:
            waiting = sorted(load.acknowledged.calls_queued)
        time.sleep(outage_seconds / 2)
        _hang_up(server.base, waiting, hang_ups)  # officers waiting in the queue give up
        time.sleep(outage_seconds / 2)
        put_through = [a.sid for a in probe.answers if a.kind == "voice" and a.what == "fallback"]
        _hang_up(server.base, put_through, hang_ups)  # the fallback calls end
        # The database may accept connections before restore() returns (pg_ctl polls):
        # only answers given before the restart began are known to be "while down".
        restarting_at = time.monotonic()
        outage.restore()
        restored_at, restored_wall = time.monotonic(), datetime.now(UTC)
        time.sleep(RECOVERY_SECONDS)
        load.stop()
        probe.stopping.set()
        prober.join(timeout=30)
        drained = _wait_for_the_spool(Spool(spool_path), restored_at)
        findings.figure("spool drained after the database was back (load stopped at 10 s)", drained)
        _check_answers(findings, probe, (cut_at, restarting_at), restored_at)
        findings.check(
            "while down: every status callback answered 204 (kept, not 500)",
            bool(hang_ups) and set(hang_ups.values()) == {204},
            f"{len(hang_ups)} callbacks: {sorted(set(hang_ups.values()))}",
        )
        engine = create_engine(outage.url)
        with Session(engine) as session:
            newer = session.scalar(
                select(func.count(Offer.id)).where(Offer.offered_at > restored_wall)
            )
            kept = {a.sid: a.sender for a in probe.answers if a.what == "kept"}
            _check_nothing_lost(findings, session, kept, twilio)
            _check_calls_marked(findings, session, waiting, put_through)
        engine.dispose()
        findings.check("after restart: the scheduler makes offers again", bool(newer), f"{newer}")
        _check_spool(findings, spool_path, server.log())
        findings.figure(
            "officers' calls queued and SMS acknowledged / not served",
            f"{len(load.acknowledged.calls_queued)} and {len(load.acknowledged.messages)}"
            f" / {load.acknowledged.refused}",
        )
    finally:
        load.stop()
        probe.stopping.set()
        server.stop()
        twilio.stop()
    return findings


def _wait_for_the_spool(spool: Spool, restored_at: float) -> str:
    """Wait (up to a minute) until the server has applied everything it kept."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while spool.depth().waiting and time.monotonic() < deadline:
        time.sleep(0.2)
    return f"{time.monotonic() - restored_at:.1f} s" if not spool.depth().waiting else "never"


def _hang_up(base: str, call_sids: list[str], answers: dict[str, int]) -> None:
    """Twilio reports each call ended (the officer hung up, or the fallback call ended)."""
    for call_sid in call_sids:
        params = {"CallSid": call_sid, "CallStatus": "completed", "SequenceNumber": "10"}
        try:
            answers[call_sid] = signed_post(base, "/twilio/voice/status", params).status_code
        except requests.RequestException:
            answers[call_sid] = 0


def _check_nothing_lost(
    findings: Findings, session: Session, kept: dict[str, str], twilio: FakeTwilio
) -> None:
    stored = dict(
        session.execute(
            select(Message.message_sid, func.count(Message.id))
            .where(Message.message_sid.in_(kept), Message.request_id.is_not(None))
            .group_by(Message.message_sid)
        ).all()
    )
    findings.check(
        "back: every SMS kept during the outage is stored, exactly once, with its request",
        bool(kept) and all(stored.get(sid) == 1 for sid in kept),
        f"{sum(1 for sid in kept if stored.get(sid) == 1)} of {len(kept)}",
    )
    late = Counter(
        m.form["To"] for m in twilio.messages() if "your request is AL-" in m.form["Body"]
    )
    findings.check(
        "back: each of those officers is then texted the reference, once",
        all(late[sender] == 1 for sender in kept.values()),
        f"{sum(1 for sender in kept.values() if late[sender] == 1)} of {len(kept)}",
    )


def _check_calls_marked(
    findings: Findings, session: Session, waiting: list[str], put_through: list[str]
) -> None:
    for title, sids in (
        ("every officer who hung up in the queue during the outage", waiting),
        ("every call put through to the fallback during the outage", put_through),
    ):
        rows = session.execute(
            select(
                CallLeg.call_sid,
                AdviceRequest.status,
                select(func.count(Task.id))
                .where(Task.request_id == AdviceRequest.id, Task.kind == TaskKind.CALL_BACK)
                .scalar_subquery(),
                select(func.count(AuditEvent.id))
                .where(
                    AuditEvent.request_id == AdviceRequest.id,
                    AuditEvent.action == "request.abandoned",
                )
                .scalar_subquery(),
            )
            .join(AdviceRequest, AdviceRequest.id == CallLeg.request_id)
            .where(CallLeg.call_sid.in_(sids))
        ).all()
        marked = [r for r in rows if (r[1], r[2], r[3]) == (RequestStatus.ABANDONED, 1, 1)]
        findings.check(
            f"back: {title} is marked abandoned, with one call-back task, once",
            bool(sids) and len(marked) == len(sids),
            f"{len(marked)} of {len(sids)}",
        )


def _check_spool(findings: Findings, path: Path, log: str) -> None:
    depth = Spool(path).depth()
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    findings.check(
        "back: the spool is empty, and its file was private (0600)",
        (depth.waiting, depth.held, mode) == (0, 0, 0o600),
        f"{depth.waiting} waiting, {depth.held} held, mode {oct(mode or 0)}",
    )
    applied = re.findall(r"applied (\d+) webhooks from the spool in ([\d.]+) s", log)
    findings.figure(
        "webhooks kept in the spool / applied after the restart (replay time)",
        f"{log.count('in the spool as entry')} / {sum(int(n) for n, _ in applied)}"
        f" ({sum(float(t) for _, t in applied):.2f} s)",
    )


def _check_answers(
    findings: Findings, probe: Probe, outage: tuple[float, float], restored_at: float
) -> None:
    cut_at, restarting_at = outage
    down = [a for a in probe.answers if a.sent > cut_at + 0.5 and a.answered < restarting_at]
    for kind, wanted, title in (
        ("voice", (200, "fallback"), "every incoming call answered 200 with the fallback TwiML"),
        ("sms", (200, "kept"), "every SMS answered 200: received, kept, what to do meanwhile"),
        ("health", (503, "unavailable"), "/healthz answers 503 'unavailable'"),
    ):
        seen = [a for a in down if a.kind == kind]
        findings.check(
            f"while down: {title}",
            bool(seen) and all((a.status, a.what) == wanted for a in seen),
            f"{len(seen)} probes: " + ", ".join(sorted({f"{a.status} {a.what}" for a in seen})),
        )
    # Each kind on its own: an SMS is kept (queued behind the spool) until it drains.
    firsts, steady = [], True
    for kind in ("voice", "sms", "health"):
        after = [a for a in probe.answers if a.sent > restored_at and a.kind == kind]
        normal = [(a.kind, a.status, a.what) in NORMAL for a in after]
        first = normal.index(True) if True in normal else None
        steady = steady and first is not None and all(normal[first:])
        firsts.append(
            f"{kind} {after[first].sent - restored_at:.1f} s" if first is not None else "never"
        )
    findings.check(
        "after restart: calls, SMS and /healthz back to normal, and stay so",
        steady,
        "first normal answer after the database was back: " + ", ".join(firsts),
    )
