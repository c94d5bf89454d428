"""Sign-in's password check: off the gevent loop, and only a bounded few at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from advice_line.auth import passwords
from advice_line.extensions import db

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans that were running at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.fixture
def app_env() -> dict[str, str]:
    return {"PASSWORD_CHECKS_AT_ONCE": "2"}


def test_at_most_the_configured_number_of_checks_run_at_once(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans: list[tuple[float, float]] = []
    connections_held: list[int] = []
    real = passwords.check_password_hash  # type: ignore[attr-defined]

    def slow_check(hashed: str, password: str) -> bool:
        started = time.monotonic()
        time.sleep(0.05)
        connections_held.append(db.engine.pool.checkedout())  # type: ignore[attr-defined]
        spans.append((started, time.monotonic()))
        return real(hashed, password)

    monkeypatch.setattr(passwords, "check_password_hash", slow_check)
    hashed = generate_password_hash("right horse", "scrypt:1024:8:1")
    results: dict[int, bool] = {}

    def sign_in(number: int) -> None:
        with app.app_context():
            db.session.execute(text("SELECT 1"))  # sign-in reads the user first
            results[number] = passwords.password_matches(hashed, "right horse" * (number % 2))

    threads = [threading.Thread(target=sign_in, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {n: n % 2 == 1 for n in range(8)}
    assert overlap(spans) == 2
    # Sign-ins waiting their turn gave their database connections back.
    assert max(connections_held) <= 2, connections_held


def test_the_bound_must_be_a_positive_number() -> None:
    from advice_line.config import ConfigurationError, settings_from_env

    with pytest.raises(ConfigurationError, match="PASSWORD_CHECKS_AT_ONCE must be at least 1"):
        settings_from_env({"ADVICE_LINE_MODE": "demo", "PASSWORD_CHECKS_AT_ONCE": "0"}, "instance")


UNDER_GEVENT = """
from gevent import monkey
monkey.patch_all()
import json, time
import gevent
from sqlalchemy import text
from werkzeug.security import generate_password_hash
from advice_line import create_app
from advice_line.auth import passwords
from advice_line.extensions import db

app = create_app(
    {"PASSWORD_CHECKS_AT_ONCE": 2},
    env={"ADVICE_LINE_MODE": "demo", "DATABASE_URL": "sqlite://"},
)
hashed = generate_password_hash("right horse", "scrypt:32768:8:1")
real, spans, ticks = passwords.check_password_hash, [], []

def timed_check(hashed, password):
    started = time.monotonic()
    try:
        return real(hashed, password)
    finally:
        spans.append((started, time.monotonic()))

passwords.check_password_hash = timed_check

def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.005)

def sign_in(number):
    with app.app_context():
        return passwords.password_matches(hashed, "right horse" if number % 2 else "wrong")

ticker = gevent.spawn(tick)
gevent.sleep(0.05)
started = time.monotonic()
checks = [gevent.spawn(sign_in, n) for n in range(6)]
gevent.joinall(checks)
ended = time.monotonic()
ticker.kill()
during = [t for t in ticks if started <= t <= ended]
gaps = [b - a for a, b in zip(during, during[1:])] or [ended - started]
print(json.dumps({
    "results": [c.value for c in checks],
    "spans": spans,
    "longest_check": max(e - s for s, e in spans),
    "longest_gap": max(gaps),
}))
"""


@pytest.mark.slow
def test_under_gevent_the_loop_keeps_running_while_passwords_are_checked() -> None:
    done = subprocess.run(
        [sys.executable, "-c", UNDER_GEVENT],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["results"] == [False, True, False, True, False, True]
    assert overlap([tuple(span) for span in figures["spans"]]) == 2
    # Each check takes a while of CPU; the loop still got to run every few milliseconds.
    assert figures["longest_check"] > 0.05
    assert figures["longest_gap"] < figures["longest_check"] / 2, figures
