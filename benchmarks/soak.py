"""Soak: ten times a national line's peak traffic for ``SOAK_SECONDS``; errors and memory.

docs/DOMAIN.md#scale sizes a national line at a few hundred to a thousand calls a day, with
bursts. Taking 1,000 calls a day, a peak hour of three times the mean hour (125 calls) and ten
times that gives 1,250 calls an hour, 0.35 a second. Each call is an incoming-call
webhook, three intake answers, two hold-music fetches and a completed status callback
(the officer hangs up while waiting: abandoned, call-back task). Messages arrive at 1.5
times the call rate from twenty officers' phones (so they open requests or add to their
open one). ``SOAK_CONSOLES`` clinicians' consoles (python-socketio clients) stay
connected, send a heartbeat every ``HEARTBEAT_SECONDS`` and change status every
30 s (ten times a change every five minutes), so every change is pushed to them all.
Served by gunicorn (gevent, one process) with the in-process scheduler, which offers the
waiting requests to the demo's on-call clinicians through a fake Twilio.

Errors (any failed request, refused socket event or lost console) must be 0, and the
server's resident memory, sampled every two seconds, must be flat: after a fifth of the
run for warm-up, the mean of the last third within 10% of the mean of the first third.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path

import requests
import socketio

from benchmarks import QUICK
from benchmarks.consoles import PASSWORD, add_clinicians, rss_mib
from benchmarks.webhooks import ROOT, serve
from drills.harness import ACCOUNT, PUBLIC, TOKEN, new_sid, signed_in_cookie, signed_post
from tests.fake_twilio import FakeTwilio

SECONDS = float(os.environ.get("SOAK_SECONDS", "30" if QUICK else "120"))
CONSOLES = int(os.environ.get("SOAK_CONSOLES", "20" if QUICK else "50"))
CALLS_PER_DAY, PEAK_HOUR_FACTOR, MULTIPLIER = 1000, 3, 10
CALLS_PER_SECOND = CALLS_PER_DAY / 24 * PEAK_HOUR_FACTOR * MULTIPLIER / 3600
MESSAGES_PER_SECOND = 1.5 * CALLS_PER_SECOND
HEARTBEAT_SECONDS = 10
STATUS_CHANGE_SECONDS = 30
RSS_SAMPLE_SECONDS = 2
MAX_RSS_GROWTH = 0.10
OFFICER_PHONES = [f"+4477009{n:05d}" for n in range(201, 205)] + [
    f"+4477009{n:05d}" for n in range(60001, 60017)
]


@dataclass
class Tally:
    """What the soak sent, how long the answers took, and everything that went wrong."""

    webhooks: int = 0
    latencies: list[float] = field(default_factory=list)
    socket_events: int = 0
    pushes: int = 0
    errors: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        """Count an error."""
        self.errors.append(what)


class Soak:
    """The traffic, in one asyncio loop; blocking HTTP calls run in its thread pool."""

    def __init__(self, base: str, tally: Tally, rng: random.Random) -> None:
        self.base = base
        self.tally = tally
        self.rng = rng
        self.tasks: set[asyncio.Task[None]] = set()

    async def post(self, path: str, params: dict[str, str]) -> str:
        """Send a signed webhook; count an error unless it is answered 200 or 204."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            response = await loop.run_in_executor(None, signed_post, self.base, path, params)
        except requests.RequestException as error:
            self.tally.error(f"{path}: {type(error).__name__}")
            return ""
        self.tally.latencies.append((time.perf_counter() - started) * 1000)
        self.tally.webhooks += 1
        if response.status_code not in (200, 204):
            self.tally.error(f"{path}: HTTP {response.status_code}")
        return response.text

    async def call(self) -> None:
        """Ring as an officer: answer the questions, wait on hold, then hang up."""
        sid = new_sid("CA")
        caller = self.rng.choice(OFFICER_PHONES)
        params = {"CallSid": sid, "AccountSid": ACCOUNT, "From": caller, "To": "+441632960999"}
        twiml = await self.post("/twilio/voice", params)
        for _ in range(6):
            gather = _find(twiml, "Gather")
            if gather is None:
                break
            await asyncio.sleep(2)
            twiml = await self.post(gather.removeprefix(PUBLIC), {**params, "Digits": "2"})
        hold = _find(twiml, "Conference", "waitUrl")
        if hold is None:
            self.tally.error(f"call {sid} never reached the conference")
            return
        for _ in range(2):
            await asyncio.sleep(5)
            await self.post(hold.removeprefix(PUBLIC), params)
        await self.post("/twilio/voice/status", {**params, "CallStatus": "completed"})

    async def message(self) -> None:
        """Text the line as an officer."""
        params = {
            "MessageSid": new_sid("SM"),
            "From": self.rng.choice(OFFICER_PHONES),
            "To": "+441632960999",
            "Body": "Woman at the station, says she wants to end her life",
        }
        await self.post("/twilio/sms", params)

    async def arrivals(self, rate: float, flow: Callable[[], Coroutine[None, None, None]]) -> None:
        """Start ``flow`` at random (Poisson) moments, ``rate`` a second on average."""
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            task = asyncio.create_task(flow())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def console(self, cookie: str) -> None:
        """Keep a clinician's console busy: heartbeats and status changes until cancelled."""
        client = socketio.AsyncClient(reconnection=False)

        def pushed(*_data: object) -> None:
            self.tally.pushes += 1

        for event in ("queue", "mine", "floor"):
            client.on(event, pushed)
        await client.connect(self.base, headers={"Cookie": cookie}, transports=["websocket"])
        next_change = time.monotonic() + self.rng.uniform(0, STATUS_CHANGE_SECONDS)
        status = "available"
        try:
            while True:
                await asyncio.sleep(self.rng.uniform(0.5, 1.5) * HEARTBEAT_SECONDS / 2)
                if not client.connected:
                    self.tally.error("a console lost its connection")
                    return
                if time.monotonic() >= next_change:
                    status = "away" if status == "available" else "available"
                    await self._event(client, "set_status", {"status": status})
                    next_change += STATUS_CHANGE_SECONDS
                else:
                    await self._event(client, "heartbeat", {})
        finally:
            await client.disconnect()

    async def _event(self, client: socketio.AsyncClient, name: str, data: object) -> None:
        try:
            answer = await client.call(name, data, timeout=10)
        except (socketio.exceptions.SocketIOError, TimeoutError) as error:
            self.tally.error(f"{name}: {type(error).__name__}")
            return
        self.tally.socket_events += 1
        if not isinstance(answer, dict) or "error" in answer:
            self.tally.error(f"{name}: {answer}")


def _find(twiml: str, tag: str, attribute: str = "action") -> str | None:
    try:
        document = ET.fromstring(twiml)  # noqa: S314 - our own server's TwiML
    except ET.ParseError:
        return None
    element = document.find(f".//{tag}")
    return None if element is None else element.get(attribute)


async def _drive(base: str, cookies: list[str], master: int) -> tuple[Tally, list[float]]:
    tally = Tally()
    soak = Soak(base, tally, random.Random(136))
    loop = asyncio.get_running_loop()
    workers = [asyncio.create_task(soak.console(cookie)) for cookie in cookies]
    workers += [
        asyncio.create_task(soak.arrivals(CALLS_PER_SECOND, soak.call)),
        asyncio.create_task(soak.arrivals(MESSAGES_PER_SECOND, soak.message)),
    ]
    samples: list[float] = []
    stop_at = time.monotonic() + SECONDS
    while time.monotonic() < stop_at:
        samples.append(await loop.run_in_executor(None, rss_mib, master))
        await asyncio.sleep(RSS_SAMPLE_SECONDS)
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    await asyncio.gather(*soak.tasks, return_exceptions=True)
    return tally, samples


def run() -> list[tuple[str, str]]:
    """Soak the app on SQLite and report errors, latency and memory over time."""
    twilio = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    twilio.start()
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{folder}/soak.sqlite3"
        env = {
            **os.environ,
            "ADVICE_LINE_MODE": "demo",
            "DATABASE_URL": database,
            "SCHEDULER_IN_PROCESS": "true",
            "TWILIO_ACCOUNT_SID": ACCOUNT,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_NUMBER": "+441632960999",
            "PUBLIC_BASE_URL": PUBLIC,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            # Every console connects from loopback, standing in for browsers everywhere.
            "SOCKETS_PER_ADDRESS": str(CONSOLES + 10),
        }
        flask = [sys.executable, "-m", "flask", "--app", "advice_line"]
        for command in (["db", "upgrade"], ["seed-demo"]):
            subprocess.run([*flask, *command], cwd=ROOT, env=env, check=True, capture_output=True)
        names = add_clinicians(database, CONSOLES)
        server, port = serve("wsgi:app", env, log=Path(folder) / "soak.log")
        base = f"http://127.0.0.1:{port}"
        try:
            cookies = [signed_in_cookie(base, name, PASSWORD) for name in names]
            started = time.monotonic()
            tally, samples = asyncio.run(_drive(base, cookies, server.pid))
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
            twilio.stop()
        log = (Path(folder) / "soak.log").read_text(errors="replace")
    if "Traceback" in log:
        tally.error("the server logged a traceback")
    return _rows(tally, samples, elapsed)


def _rows(tally: Tally, samples: list[float], elapsed: float) -> list[tuple[str, str]]:
    settled = samples[len(samples) // 5 :]
    third = max(1, len(settled) // 3)
    first, last = statistics.mean(settled[:third]), statistics.mean(settled[-third:])
    growth = (last - first) / first
    quantiles = statistics.quantiles(tally.latencies, n=100)
    errors = f"{len(tally.errors)}" + (f" (first: {tally.errors[:3]})" if tally.errors else "")
    return [
        (
            "soak: load (s) / consoles / offered rate (calls/s, messages/s)",
            f"{SECONDS:.0f} (+{elapsed - SECONDS:.0f} draining calls) / {CONSOLES}"
            f" / {CALLS_PER_SECOND:.2f}, {MESSAGES_PER_SECOND:.2f}",
        ),
        (
            "soak: webhooks answered / socket events acknowledged / pushes received",
            f"{tally.webhooks} / {tally.socket_events} / {tally.pushes}",
        ),
        ("soak: webhook p50 / p99 (ms)", f"{quantiles[49]:.0f} / {quantiles[98]:.0f}"),
        ("soak: errors (must be 0)", errors),
        (
            "soak: server RSS first third / last third after warm-up (MiB)",
            f"{first:.1f} / {last:.1f} ({growth:+.1%}, "
            + ("flat" if growth <= MAX_RSS_GROWTH else "GROWING")
            + f"; {len(samples)} samples, min {min(samples):.1f}, max {max(samples):.1f})",
        ),
    ]
