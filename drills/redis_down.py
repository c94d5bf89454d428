"""Redis killed under two app processes that share it, then brought back.

Both processes keep answering webhooks and say ``degraded`` on ``/healthz``; consoles on
the process that took a request still see it at once (a single process needs no Redis);
consoles on the other process miss pushes until Redis returns, then see them again.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from advice_line.demo import DEMO_PASSWORD
from drills.consoles import Console
from drills.harness import (
    AppServer,
    Findings,
    PrivateRedis,
    app_env,
    migrate_and_seed,
    new_sid,
    signed_post,
)
from drills.load import text_the_line

UNREACHABLE_TWILIO = "http://127.0.0.1:9"
REDIS_LOG_LINE = "Redis is unreachable"
RESUME_SECONDS = 5


def _new_request(base: str, sender: int) -> str:
    _, number = text_the_line(base, f"+4477009{sender:05d}", "Woman on the platform edge")
    assert number is not None
    return f"AL-{number}"


def run(database_url: str, folder: Path, *, outage_seconds: float = 8) -> Findings:
    """Two processes on one Redis: kill it, check both still serve, bring it back."""
    findings = Findings()
    redis = PrivateRedis()
    redis.start()
    env = app_env(
        database_url, UNREACHABLE_TWILIO, REDIS_URL=redis.url, SCHEDULER_IN_PROCESS="false"
    )
    migrate_and_seed(env)
    first, second = (
        AppServer(env, folder / "redis-first.log"),
        AppServer(env, folder / "redis-second.log"),
    )
    consoles: list[Console] = []
    try:
        first.start()
        second.start()
        near = Console(first.base, "amira", DEMO_PASSWORD)
        far = Console(second.base, "ben", DEMO_PASSWORD)
        consoles += [near, far]
        reference = _new_request(first.base, 1)
        findings.check(
            "Redis up: a request texted to one process reaches a console on the other",
            far.wait_for(reference, 10),
            reference,
        )
        redis.kill()
        killed_at = time.monotonic()
        time.sleep(1)
        _check_while_down(findings, first, near, far)
        time.sleep(max(0.0, outage_seconds - (time.monotonic() - killed_at)))
        redis.start()
        returned_at = time.monotonic()
        resumed = None
        for attempt in range(90):
            reference = _new_request(first.base, 100 + attempt)
            if far.wait_for(reference, 1):
                resumed = time.monotonic() - returned_at
                break
        findings.check(
            f"Redis back: pushes reach consoles on the other process within {RESUME_SECONDS} s",
            resumed is not None and resumed <= RESUME_SECONDS,
            f"after {resumed:.1f} s" if resumed is not None else "not within 90 s",
        )
        health = requests.get(second.base + "/healthz", timeout=10).json()
        findings.check("Redis back: /healthz says ok", health["status"] == "ok", health["status"])
    finally:
        for console in consoles:
            console.close()
        first.stop()
        second.stop()
        if redis.process is not None and redis.process.poll() is None:
            redis.kill()
    for server in (first, second):
        log = server.log()
        findings.check(
            f"{server.log_path.name}: free of tracebacks", "Traceback" not in log, "no traceback"
        )
    return findings


def _check_while_down(findings: Findings, first: AppServer, near: Console, far: Console) -> None:
    call = signed_post(
        first.base, "/twilio/voice", {"CallSid": new_sid("CA"), "From": "+447700900201"}
    )
    findings.check(
        "Redis down: the voice webhook asks its first question",
        call.status_code == 200 and "<Gather" in call.text,
        f"{call.status_code}",
    )
    reference = _new_request(first.base, 2)
    findings.check("Redis down: the SMS webhook opens a request", True, reference)
    health = requests.get(first.base + "/healthz", timeout=10)
    body = health.json()
    findings.check(
        "Redis down: /healthz answers 200 'degraded', redis not ok",
        health.status_code == 200
        and body["status"] == "degraded"
        and body["checks"]["redis"]["ok"] is False,
        f"{health.status_code} {body['status']}",
    )
    findings.check(
        "Redis down: a console on the same process still sees the new request",
        near.wait_for(reference, 5),
        reference,
    )
    findings.figure(
        "Redis down: a console on the other process sees it (expected: no)",
        "yes" if far.wait_for(reference, 2) else "no",
    )
    lines = [line for line in first.log().splitlines() if REDIS_LOG_LINE in line]
    findings.check(
        "Redis down: the log says so in one clear line",
        bool(lines),
        lines[0] if lines else f"no line containing {REDIS_LOG_LINE!r}",
    )
