"""The incoming-call webhook under gunicorn (gevent), beside a bare Flask endpoint.

Each run starts both servers, drives each for a fixed time from a pool of client threads
on loopback (every call a new signed request with its own CallSid) and reports requests
per second and latency percentiles, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import http.client
import itertools
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

from twilio.request_validator import RequestValidator

from benchmarks import QUICK
from benchmarks.databases import on_each_database

ROOT = Path(__file__).resolve().parent.parent
DURATION = 3.0 if QUICK else 8.0
CLIENTS = 16
TOKEN = "benchmark-auth-token"  # noqa: S105 - a benchmark-only server
PUBLIC = "https://line.example.test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(
    target: str, env: dict[str, str], log: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start gunicorn (gevent, one worker) on a free port; its output goes to ``log``."""
    port = _free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with log.open("ab") if log else open(os.devnull, "wb") as output:
        server = subprocess.Popen(
            [gunicorn, "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", target],
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


def _load(
    port: int, make_request: Callable[[], tuple[str, bytes, dict[str, str]]]
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + DURATION

    def client() -> None:
        nonlocal errors
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        failed = 0
        while time.monotonic() < stop_at:
            path, body, headers = make_request()
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            failed += response.status != 200
        connection.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / DURATION, latencies, errors


#: Each call comes from a number of its own, so every one opens a request (a second call
#: from one number joins the first: that would measure the join, not the opening).
_CALLERS = itertools.count(1_000_000)


def _incoming_call() -> tuple[str, bytes, dict[str, str]]:
    caller = f"+44770{next(_CALLERS):07d}"
    params = {"CallSid": "CA" + uuid.uuid4().hex, "From": caller, "To": "+441632960999"}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/twilio/voice", params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return "/twilio/voice", urllib.parse.urlencode(params).encode(), headers


def _bare() -> tuple[str, bytes, dict[str, str]]:
    body = urllib.parse.urlencode({"CallSid": "CA" + uuid.uuid4().hex}).encode()
    return "/", body, {"Content-Type": "application/x-www-form-urlencoded"}


def _measure(database_url: str, label: str) -> list[tuple[str, str]]:
    env = {
        **os.environ,
        "ADVICE_LINE_MODE": "demo",
        "DATABASE_URL": database_url,
        "SCHEDULER_IN_PROCESS": "false",
        "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_NUMBER": "+441632960999",
        "PUBLIC_BASE_URL": PUBLIC,
    }
    flask = [sys.executable, "-m", "flask", "--app", "advice_line"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run([*flask, *command], cwd=ROOT, env=env, check=True, capture_output=True)
    rows = []
    results = {}
    for name, target, maker in (
        ("incoming-call webhook", "wsgi:app", _incoming_call),
        ("bare Flask endpoint", "benchmarks.bare_app:app", _bare),
    ):
        server, port = serve(target, env)
        try:
            rps, latencies, errors = _load(port, maker)
        finally:
            server.terminate()
            server.wait(timeout=30)
        quantiles = statistics.quantiles(latencies, n=100)
        results[name] = rps
        rows += [
            (
                f"{name}, {label}: requests/s",
                f"{rps:.0f}" + (f" ({errors} errors)" if errors else ""),
            ),
            (f"{name}, {label}: p50 / p99 (ms)", f"{quantiles[49]:.1f} / {quantiles[98]:.1f}"),
        ]
    ratio = results["incoming-call webhook"] / results["bare Flask endpoint"]
    rows.append((f"webhook / bare throughput, {label}", f"{ratio:.2f}"))
    return rows


def run() -> list[tuple[str, str]]:
    """Measure on SQLite, then PostgreSQL if reachable."""
    load = ("load", f"{CLIENTS} client threads x {DURATION:.0f} s per endpoint, loopback")
    return [load, *on_each_database(_measure)]
