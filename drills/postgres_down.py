"""PostgreSQL goes down mid-load and comes back: fallback answers meanwhile, then reconnection.

The drill runs against a private cluster stopped with ``pg_ctl -m immediate`` (as a crash
would) and started again; the test runs it through a TCP proxy in front of the shared
server that it cuts (every connection reset, new ones refused) and restores.
"""

from __future__ import annotations

import itertools
import threading
import time
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

from advice_line.models import Offer
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
        sent = time.monotonic()
        try:
            if kind == "voice":
                params = {"CallSid": new_sid("CA"), "From": "+447700900203"}
                call = signed_post(self.base, "/twilio/voice", params)
                status, what = call.status_code, _kind_of_answer(call.text)
            elif kind == "sms":
                params = {"MessageSid": new_sid("SM"), "From": next_officer(), "Body": "help"}
                message = signed_post(self.base, "/twilio/sms", params)
                status, what = message.status_code, _kind_of_answer(message.text)
            else:
                health = requests.get(self.base + "/healthz", timeout=10)
                status, what = health.status_code, health.json()["status"]
        except requests.RequestException as error:
            status, what = 0, type(error).__name__
        self.answers.append(Answer(sent, time.monotonic(), kind, status, what))


UNSEEN_NUMBERS = itertools.count(50000)


def next_officer() -> str:
    """Return a phone number the line has not seen, so each message opens a request."""
    return f"+4477009{next(UNSEEN_NUMBERS):05d}"


def _kind_of_answer(twiml: str) -> str:
    if "<Gather" in twiml:
        return "question"
    if "<Message>Advice Line: your request is AL-" in twiml:
        return "opened"
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
    migrate_and_seed(env)
    server = AppServer(env, folder / "postgres-down.log")
    server.start()
    load = OfficerLoad(server.base)
    probe = Probe(server.base)
    prober = threading.Thread(target=probe.run, daemon=True)
    try:
        load.start()
        prober.start()
        time.sleep(3)
        outage.cut()
        cut_at = time.monotonic()
        time.sleep(outage_seconds)
        # The database may accept connections before restore() returns (pg_ctl polls):
        # only answers given before the restart began are known to be "while down".
        restarting_at = time.monotonic()
        outage.restore()
        restored_at, restored_wall = time.monotonic(), datetime.now(UTC)
        time.sleep(RECOVERY_SECONDS)
        load.stop()
        probe.stopping.set()
        prober.join(timeout=30)
        _check_answers(findings, probe, (cut_at, restarting_at), restored_at)
        engine = create_engine(outage.url)
        with Session(engine) as session:
            newer = session.scalar(
                select(func.count(Offer.id)).where(Offer.offered_at > restored_wall)
            )
        engine.dispose()
        findings.check("after restart: the scheduler makes offers again", bool(newer), f"{newer}")
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


def _check_answers(
    findings: Findings, probe: Probe, outage: tuple[float, float], restored_at: float
) -> None:
    cut_at, restarting_at = outage
    down = [a for a in probe.answers if a.sent > cut_at + 0.5 and a.answered < restarting_at]
    for kind, wanted, title in (
        ("voice", (200, "fallback"), "every incoming call answered 200 with the fallback TwiML"),
        ("sms", (200, "fallback"), "every SMS answered 200 with what to do instead"),
        ("health", (503, "unavailable"), "/healthz answers 503 'unavailable'"),
    ):
        seen = [a for a in down if a.kind == kind]
        findings.check(
            f"while down: {title}",
            bool(seen) and all((a.status, a.what) == wanted for a in seen),
            f"{len(seen)} probes: " + ", ".join(sorted({f"{a.status} {a.what}" for a in seen})),
        )
    after = [a for a in probe.answers if a.sent > restored_at]
    normal = [(a.kind, a.status, a.what) in NORMAL for a in after]
    first = normal.index(True) if True in normal else None
    findings.check(
        "after restart: calls, SMS and /healthz back to normal, and stay so",
        first is not None and all(normal[first:]),
        f"first normal answer {after[first].sent - restored_at:.1f} s after the database was back"
        if first is not None
        else "never",
    )
