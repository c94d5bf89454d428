"""The demo seed and the real server: migrations, seed, gunicorn with the in-process scheduler."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from advice_line.extensions import db
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import Clinician, ClinicianStatus, Offer, Officer, OfficerPhone, Role, User
from advice_line.routing.views import count_available
from advice_line.serve import where_to_go
from tests.builders import add_request
from tests.conftest import PRODUCTION_ENV, http_get

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
        # The console clinician answers first; the others wait, away, until set available.
        assert count_available(session, now=datetime.now(UTC), policy=policy) == 1
        away = session.scalar(
            select(func.count(Clinician.id)).where(Clinician.status == ClinicianStatus.AWAY)
        )
        assert away == 5
        users = session.scalar(select(func.count(User.id)))
    again = app.test_cli_runner().invoke(args=["seed-demo"])
    assert "already present" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == users


def test_gunicorn_serves_health_and_routes_with_its_in_process_scheduler(
    live_server: tuple[str, str], app_maker: AppMaker
) -> None:
    base, database_url = live_server
    status, body = http_get(base + "/healthz")
    assert status == 200
    assert json.loads(body)["checks"]["database"]["ok"] is True
    app = app_maker(database_url)
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
    status, page = http_get(base + "/")
    assert status == 200
    assert b'href="/login"' in page


def test_make_run_says_where_each_page_is_and_whom_to_sign_in_as() -> None:
    base = "http://127.0.0.1:5000"
    told = where_to_go({"ADVICE_LINE_MODE": "demo"}, base)
    assert f"Console:   {base}/console  (amira / advice-line-demo" in told
    assert f"Simulator: {base}/simulator/" in told
    assert f"Reports:   {base}/reports/  (morgan / advice-line-demo)" in told
    assert f"Admin:     {base}/admin/  (alex / advice-line-demo)" in told
    real = where_to_go(PRODUCTION_ENV, "https://line.example")
    assert "Simulator" not in real
    assert "advice-line-demo" not in real
    assert "Console:   https://line.example/console" in real
