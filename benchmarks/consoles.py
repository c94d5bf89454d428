"""200 consoles connected: how long until every one of them sees a new request.

Serves the app with gunicorn (gevent, one process), signs in 200 clinicians over HTTP,
connects their consoles with python-socketio clients, then sends signed SMS webhooks one
at a time and times, for each, the moment the last console receives the queue with the
new request in it. Also reads the server process's resident memory.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import socketio
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator
from werkzeug.security import generate_password_hash

from advice_line.lifecycle.qualification import example_registration
from advice_line.models import Profession, RegistrationBody
from benchmarks import QUICK
from benchmarks.webhooks import PUBLIC, ROOT, TOKEN, serve
from drills.harness import signed_in_cookie

CONSOLES = 50 if QUICK else 200
TRIALS = 10 if QUICK else 30
PASSWORD = "bench-console-password"  # noqa: S105 - benchmark accounts only


def add_clinicians(database: str, count: int) -> list[str]:
    """Add ``count`` offline nurses who can sign in with PASSWORD; return their usernames."""
    engine = create_engine(database)
    hashed = generate_password_hash(PASSWORD)
    names = [f"console{n}" for n in range(count)]
    with engine.begin() as db:
        for number, name in enumerate(names):
            user_id = db.execute(
                text(
                    "INSERT INTO user_account (username, display_name, password_hash, role, "
                    "active, created_at) VALUES (:u, :u, :h, 'clinician', true, :now) RETURNING id"
                ),
                {"u": name, "h": hashed, "now": "2026-01-01 00:00:00"},
            ).scalar_one()
            db.execute(
                text(
                    "INSERT INTO clinician (user_id, profession, registration_body, "
                    "registration_number, status, status_changed_at, missed_offers_in_row, "
                    "on_console) VALUES (:id, 'nurse', 'NMC', :reg, 'offline', :now, 0, false)"
                ),
                {
                    "id": user_id,
                    "reg": example_registration(Profession.NURSE, RegistrationBody.NMC, number),
                    "now": "2026-01-01 00:00:00",
                },
            )
    engine.dispose()
    return names


def _text_the_line(base: str, trial: int) -> str:
    """A new officer (a number of their own) texts the line; return the new reference."""
    sender = f"+447700900{300 + trial}"
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "Body": "help"}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/twilio/sms", params)
    reply = requests.post(
        f"{base}/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}, timeout=30
    ).text
    found = re.search(r"AL-\d+", reply)
    assert found is not None, reply
    return found.group(0)


async def _run(base: str, cookies: list[str]) -> tuple[list[float], list[float]]:
    seen: list[dict[str, float]] = [{} for _ in cookies]
    clients = []
    for index, cookie in enumerate(cookies):
        client = socketio.AsyncClient(reconnection=False)

        def remember(data: list[dict[str, str]], mine: dict[str, float] = seen[index]) -> None:
            now = time.perf_counter()
            for request in data:
                mine.setdefault(request["reference"], now)

        client.on("queue", remember)
        await client.connect(base, headers={"Cookie": cookie}, transports=["websocket"])
        clients.append(client)
    everyone: list[float] = []
    each: list[float] = []
    loop = asyncio.get_running_loop()
    for trial in range(TRIALS):
        started = time.perf_counter()
        reference = await loop.run_in_executor(None, _text_the_line, base, trial)
        deadline = time.monotonic() + 30
        while any(reference not in mine for mine in seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        arrivals = [mine[reference] - started for mine in seen if reference in mine]
        assert len(arrivals) == len(seen), f"{len(seen) - len(arrivals)} consoles missed it"
        everyone.append(max(arrivals) * 1000)
        each.extend(a * 1000 for a in arrivals)
    for client in clients:
        await client.disconnect()
    return everyone, each


def rss_mib(master: int) -> float:
    """Resident memory of a server process and its children."""
    children = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
    ).stdout.split()
    total = 0
    for pid in [str(master), *children]:
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            found = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            total += int(found.group(1)) if found else 0
    return total / 1024


def run() -> list[tuple[str, str]]:
    """Measure fan-out to CONSOLES consoles on SQLite."""
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{folder}/consoles.sqlite3"
        env = {
            **os.environ,
            "ADVICE_LINE_MODE": "demo",
            "DATABASE_URL": database,
            "SCHEDULER_IN_PROCESS": "false",
            "TWILIO_ACCOUNT_SID": "AC" + "b" * 32,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_NUMBER": "+441632960999",
            "PUBLIC_BASE_URL": PUBLIC,
            # Every console connects from loopback, standing in for browsers everywhere.
            "SOCKETS_PER_ADDRESS": str(CONSOLES + 10),
        }
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "advice_line", "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        names = add_clinicians(database, CONSOLES)
        server, port = serve("wsgi:app", env)
        base = f"http://127.0.0.1:{port}"
        try:
            idle = rss_mib(server.pid)
            cookies = [signed_in_cookie(base, name, PASSWORD) for name in names]
            everyone, each = asyncio.run(_run(base, cookies))
            loaded = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    all_q = statistics.quantiles(everyone, n=100)
    each_q = statistics.quantiles(each, n=100)
    return [
        ("consoles connected / requests sent", f"{CONSOLES} / {TRIALS}"),
        ("webhook to the last console, p50 / p99 (ms)", f"{all_q[49]:.0f} / {all_q[98]:.0f}"),
        ("webhook to each console, p50 / p99 (ms)", f"{each_q[49]:.0f} / {each_q[98]:.0f}"),
        (f"server memory, idle / with {CONSOLES} consoles (MiB)", f"{idle:.0f} / {loaded:.0f}"),
    ]
