"""The demo seed and the real server: migrations, seed, gunicorn with the in-process scheduler."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from advice_line import PROJECT_ROOT
from advice_line.extensions import db
from advice_line.models import Clinician, Offer, Officer, OfficerPhone, Role, User
from advice_line.routing.engine import count_available
from advice_line.routing.policy import RoutingPolicy
from tests.builders import add_request
from tests.conftest import PRODUCTION_ENV, demo_env

AppMaker = Callable[..., Flask]


def test_seed_demo_refuses_outside_demo_mode(tmp_path: Path) -> None:
    from advice_line import create_app

    url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    app = create_app({"TESTING": True}, env={**PRODUCTION_ENV, "DATABASE_URL": url})
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "only with ADVICE_LINE_MODE=demo" in result.output


def test_seed_demo_gives_a_working_line_and_is_idempotent(
    database_url: str, app_maker: AppMaker
) -> None:
    app = app_maker(database_url)
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Demo logins (password for all: advice-line-demo)" in result.output
    for username in ("amira", "sam", "morgan", "alex"):
        assert username in result.output
    with app.app_context():
        session = db.session()
        roles = set(session.scalars(select(User.role)))
        assert roles == set(Role)
        professions = set(session.scalars(select(Clinician.profession)))
        assert len(professions) >= 4
        skilled = session.scalar(select(func.count(Clinician.id)).where(Clinician.skills.any()))
        assert skilled is not None
        assert skilled >= 3
        forces = set(session.scalars(select(Officer.force)))
        assert len(forces) >= 2
        numbers = list(session.scalars(select(OfficerPhone.number)))
        assert numbers
        assert all(n.startswith("+447700900") for n in numbers)
        policy = RoutingPolicy.from_config(app.config)
        assert count_available(session, now=datetime.now(UTC), policy=policy) >= 5
        users = session.scalar(select(func.count(User.id)))
    again = app.test_cli_runner().invoke(args=["seed-demo"])
    assert "already present" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == users


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Migrate, seed and serve with gunicorn (gevent), as `make run` does."""
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    env = {**os.environ, **demo_env(url, SCHEDULER_IN_PROCESS="true", SCHEDULER_INTERVAL_MS="100")}
    flask = [sys.executable, "-m", "flask", "--app", "advice_line"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run(
            [*flask, *command], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True
        )
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _get(base + "/healthz")
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield base, {"DATABASE_URL": url}
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
        assert "Traceback" not in output, output


def test_gunicorn_serves_health_and_routes_with_its_in_process_scheduler(
    served: tuple[str, dict[str, str]], app_maker: AppMaker
) -> None:
    base, env = served
    status, body = _get(base + "/healthz")
    assert status == 200
    assert json.loads(body)["checks"]["database"]["ok"] is True
    app = app_maker(env["DATABASE_URL"])
    with app.app_context():
        request = add_request(db.session(), now=datetime.now(UTC))
        db.session.commit()
        deadline = time.monotonic() + 15
        offer = None
        while offer is None and time.monotonic() < deadline:
            time.sleep(0.1)
            db.session.rollback()
            offer = db.session.scalar(select(Offer).where(Offer.request_id == request.id))
        assert offer is not None, "the in-process scheduler did not route the request"
    status, page = _get(base + "/")
    assert status == 200
    assert b"Requests waiting" in page
