"""Twilio's webhooks against the ceiling of what they must do, under gunicorn (gevent).

In one run, on SQLite and then PostgreSQL, three servers are started one after the other
with the same gunicorn configuration (``gunicorn.conf.py``: gevent, one worker) and loaded
by the same client threads on loopback, each after a warm-up: a bare Flask endpoint
(``bare_app``: gunicorn and Flask alone), the ceiling (``ceiling_app``: check Twilio's
signature, insert three rows, commit once, on the same database) and the app, whose
incoming-call, SMS and status-callback webhooks are each given in requests per second and
as a ratio of the ceiling. Every call and message comes from a number of its own, so each
opens a request; each status callback ends one of the calls just made (``completed``:
the officer hung up during intake, so the request is abandoned with a call-back task).
"""

from __future__ import annotations

import http.client
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from twilio.request_validator import RequestValidator

from benchmarks import QUICK
from benchmarks.databases import on_each_database
from tests.fake_twilio import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
CONFIG = str(ROOT / "gunicorn.conf.py")
DURATION = 3.0 if QUICK else 8.0
WARM_UP = 1.0 if QUICK else 2.0
CLIENTS = 16
TOKEN = "benchmark-auth-token"  # noqa: S105 - a benchmark-only server
ACCOUNT = "AC" + "b" * 32
LINE = "+441632960999"
PUBLIC = "https://line.example.test"
#: One webhook request: (path, form body, headers), or None when there is nothing to send.
Request = tuple[str, bytes, dict[str, str]] | None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(
    target: str, env: dict[str, str], log: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start gunicorn as deployed (``gunicorn.conf.py``) on a free port; output to ``log``."""
    port = _free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with log.open("ab") if log else open(os.devnull, "wb") as output:
        server = subprocess.Popen(
            [gunicorn, "-c", CONFIG, "-b", f"127.0.0.1:{port}", target],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"{target} did not start")


@dataclass
class Load:
    """What one load of an endpoint measured."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        """Requests answered a second."""
        return len(self.latencies) / self.seconds


def _load(port: int, make_request: Callable[[], Request], seconds: float) -> Load:
    """Send requests from ``CLIENTS`` threads for ``seconds`` or until there are none."""
    load = Load(seconds)
    lock = threading.Lock()
    started = time.monotonic()
    stop_at = started + seconds
    finished: list[float] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        failed = 0
        while time.monotonic() < stop_at and (made := make_request()) is not None:
            path, body, headers = made
            sent = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - sent) * 1000)
            failed += response.status not in (200, 204)
        connection.close()
        with lock:
            load.latencies.extend(mine)
            load.errors += failed
            finished.append(time.monotonic())

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = max(finished) - started
    return load


def _signed(path: str, params: dict[str, str]) -> Request:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return path, urllib.parse.urlencode(params).encode(), headers


class Traffic:
    """The requests of one run: every call and message from a number of its own.

    A second call from one number joins the first: that would measure the join, not the
    opening. The calls made are kept, for their status callbacks.
    """

    def __init__(self) -> None:
        self.numbers = itertools.count(1_000_000)
        self.calls: list[str] = []

    def bare(self) -> Request:
        """A form post to the bare endpoint."""
        body = urllib.parse.urlencode({"CallSid": "CA" + uuid.uuid4().hex}).encode()
        return "/", body, {"Content-Type": "application/x-www-form-urlencoded"}

    def incoming_call(self) -> Request:
        """An officer's new call."""
        sid = "CA" + uuid.uuid4().hex
        self.calls.append(sid)
        caller = f"+44770{next(self.numbers):07d}"
        return _signed("/twilio/voice", {"CallSid": sid, "From": caller, "To": LINE})

    def incoming_message(self) -> Request:
        """An officer's first text."""
        sender = f"+44771{next(self.numbers):07d}"
        body = "Man on the bridge, says he wants to jump"
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "To": LINE}
        return _signed("/twilio/sms", {**params, "Body": body})

    def call_completed(self) -> Request:
        """The end of one of the calls made, none twice; None once all have ended."""
        try:
            sid = self.calls.pop()
        except IndexError:
            return None
        params = {"CallSid": sid, "CallStatus": "completed", "AccountSid": ACCOUNT}
        return _signed("/twilio/voice/status", params)


def _measure(port: int, make_request: Callable[[], Request]) -> Load:
    _load(port, make_request, WARM_UP)
    return _load(port, make_request, DURATION)


def _figures(name: str, load: Load, ceiling: Load | None) -> list[tuple[str, str]]:
    quantiles = statistics.quantiles(load.latencies, n=100)
    errors = f" ({load.errors} errors)" if load.errors else ""
    rows = [
        (
            f"{name}: requests/s",
            f"{load.rate:.0f} ({len(load.latencies)} in {load.seconds:.1f} s){errors}",
        ),
        (f"{name}: p50 / p99 (ms)", f"{quantiles[49]:.1f} / {quantiles[98]:.1f}"),
    ]
    if ceiling is not None:
        rows.append((f"{name}: / ceiling", f"{load.rate / ceiling.rate:.2f}"))
    return rows


def _served(target: str, env: dict[str, str], *makers: Callable[[], Request]) -> list[Load]:
    server, port = serve(target, env)
    try:
        return [_measure(port, maker) for maker in makers]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _run_on(database_url: str, label: str, twilio_api: str) -> list[tuple[str, str]]:
    env = {
        **os.environ,
        "ADVICE_LINE_MODE": "demo",
        "DATABASE_URL": database_url,
        "SCHEDULER_IN_PROCESS": "false",
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_NUMBER": LINE,
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_API_BASE_URL": twilio_api,
        "SPOOL_PATH": str(Path(tempfile.mkdtemp(prefix="bench-spool-")) / "spool.sqlite3"),
    }
    flask = [sys.executable, "-m", "flask", "--app", "advice_line"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run([*flask, *command], cwd=ROOT, env=env, check=True, capture_output=True)
    traffic = Traffic()
    (bare,) = _served("benchmarks.bare_app:app", env, traffic.bare)
    (ceiling,) = _served("benchmarks.ceiling_app:create_app()", env, traffic.incoming_call)
    traffic.calls.clear()
    call, ended, text_in = _served(
        "wsgi:app", env, traffic.incoming_call, traffic.call_completed, traffic.incoming_message
    )
    return [
        *_figures(f"bare Flask endpoint, {label}", bare, None),
        *_figures(f"ceiling (signature, 3 rows, 1 commit), {label}", ceiling, None),
        (f"ceiling / bare, {label}", f"{ceiling.rate / bare.rate:.2f}"),
        *_figures(f"incoming-call webhook, {label}", call, ceiling),
        *_figures(f"status callback (call completed), {label}", ended, ceiling),
        *_figures(f"incoming SMS webhook, {label}", text_in, ceiling),
    ]


def run() -> list[tuple[str, str]]:
    """Measure on SQLite, then PostgreSQL if reachable."""
    twilio = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    twilio.start()
    try:
        rows = on_each_database(lambda url, label: _run_on(url, label, twilio.base_url))
    finally:
        twilio.stop()
    load = (
        "webhook load",
        f"{CLIENTS} client threads, {WARM_UP:.0f} s warm-up + {DURATION:.0f} s per endpoint, "
        "loopback",
    )
    return [load, *rows]
