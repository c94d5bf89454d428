"""Configuration from the environment, the health check, and local times."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from advice_line import PROJECT_ROOT, create_app
from advice_line.audit import AuditLogIsAppendOnly
from advice_line.clock import london
from advice_line.config import DEMO_SECRET_KEY, ConfigurationError
from advice_line.demo import DEMO_PASSWORD
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AuditEvent, Profession, Shift
from tests.builders import T0, add_clinician, add_request
from tests.conftest import PRODUCTION_ENV, demo_env
from tests.test_console import sign_in


@pytest.mark.parametrize(
    ("env", "phrase"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": DEMO_SECRET_KEY}, "SECRET_KEY"),
        ({"ADVICE_LINE_MODE": "staging"}, "ADVICE_LINE_MODE"),
        ({**PRODUCTION_ENV, "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({**PRODUCTION_ENV, "PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL"),
        ({**PRODUCTION_ENV, "TWILIO_NUMBER": "not a number"}, "TWILIO_NUMBER"),
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(
    env: dict[str, str], phrase: str
) -> None:
    with pytest.raises(ConfigurationError, match=phrase):
        create_app(env={"ADVICE_LINE_MODE": "production", **env})


def test_production_starts_with_a_real_key_and_secure_cookies(tmp_path: Path) -> None:
    app = create_app(env={**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"})
    assert app.config["ADVICE_LINE_MODE"] == "production"
    assert app.config["SECRET_KEY"] == PRODUCTION_ENV["SECRET_KEY"]
    assert app.config["TWILIO_SIMULATED"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_demo_mode_has_demo_secrets(tmp_path: Path) -> None:
    app = create_app(env=demo_env(f"sqlite:///{tmp_path / 'd.sqlite3'}"))
    assert app.config["SECRET_KEY"] == DEMO_SECRET_KEY


def test_the_environment_is_read_inside_create_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ADVICE_LINE_MODE", "demo")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'e.sqlite3'}")
    monkeypatch.setenv("OFFER_TIMEOUT_SECONDS", "15")
    monkeypatch.setenv("QUALIFYING_PROFESSIONS", "doctor,amhp")
    first = create_app()
    monkeypatch.setenv("OFFER_TIMEOUT_SECONDS", "25")
    second = create_app()
    policy = RoutingPolicy.from_config(first.config)
    assert policy.offer_timeout.total_seconds() == 15
    assert policy.qualifying_professions == {Profession.DOCTOR, Profession.AMHP}
    assert RoutingPolicy.from_config(second.config).offer_timeout.total_seconds() == 25


def test_postgres_urls_use_psycopg_3() -> None:
    app = create_app(env={"ADVICE_LINE_MODE": "demo", "DATABASE_URL": "postgres://u@h/db"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_migrations_and_retention_use_the_owners_url_when_one_is_given() -> None:
    app = create_app(env={"ADVICE_LINE_MODE": "demo", "DATABASE_URL": "postgres://app@h/db"})
    assert app.config["OWNER_DATABASE_URL"] == "postgresql+psycopg://app@h/db"
    assert app.config["DATABASE_APP_ROLE"] == "advice_line_app"
    owner_env = {"OWNER_DATABASE_URL": "postgresql://owner@h/db", "DATABASE_APP_ROLE": "line_app"}
    app = create_app(
        env={"ADVICE_LINE_MODE": "demo", "DATABASE_URL": "postgres://app@h/db"} | owner_env
    )
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://app@h/db"
    assert app.config["OWNER_DATABASE_URL"] == "postgresql+psycopg://owner@h/db"
    assert app.config["DATABASE_APP_ROLE"] == "line_app"


def test_sqlite_in_the_instance_folder_is_the_default() -> None:
    app = create_app(env={"ADVICE_LINE_MODE": "demo"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + os.path.join(
        app.instance_path, "advice_line.sqlite3"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OFFER_TIMEOUT_SECONDS", "soon"),
        ("OFFER_TIMEOUT_SECONDS", "0"),
        ("MAX_MISSED_OFFERS", "-1"),
        ("REGISTRATION_WARNING_DAYS", "0"),
        ("REGISTRATION_WARNING_DAYS", "a month"),
        ("SCHEDULER_IN_PROCESS", "maybe"),
        ("ESCALATION_STEPS", "30:everyone"),
        ("ESCALATION_STEPS", "thirty:any_qualifying"),
        ("ESCALATION_STEPS", "60:senior_alert,30:any_qualifying"),
        ("ESCALATION_STEPS", "30:any_qualifying,20:senior_alert"),
        ("QUALIFYING_PROFESSIONS", "doctor,wizard"),
        ("QUALIFYING_PROFESSIONS", " , "),
        ("LOG_FORMAT", "xml"),
        ("METRICS_TOKEN", "too-short"),
        ("DATABASE_APP_ROLE", 'app"; DROP TABLE audit_event; --'),
        ("DATABASE_APP_ROLE", "Advice-Line"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        create_app(env={"ADVICE_LINE_MODE": "demo", name: value})


def test_wsgi_refuses_to_start_in_production_without_a_key() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ADVICE_LINE_MODE"}}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ConfigurationError: Production mode needs a real SECRET_KEY" in result.stderr


def test_healthz_reports_the_database(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"status", "checks", "time"}
    assert body["status"] == "ok"
    assert body["checks"] == {"database": {"ok": True}, "spool": {"ok": True}}, "no figures"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-directory/advice_line.sqlite3",
        "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2",
    ],
)
def test_healthz_is_503_when_the_database_cannot_be_reached(url: str) -> None:
    app = create_app({"TESTING": True}, env=demo_env(url))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}


@pytest.mark.redis
def test_healthz_checks_redis_when_configured(
    database_url: str, redis_url: str, app_maker: Callable[..., Flask]
) -> None:
    app = app_maker(database_url, REDIS_URL=redis_url)
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["checks"] == {
        "database": {"ok": True},
        "redis": {"ok": True},
        "spool": {"ok": True},
    }


def test_redis_down_degrades_but_still_serves(
    database_url: str, app_maker: Callable[..., Flask]
) -> None:
    app = app_maker(database_url, REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}


def test_times_are_stored_in_utc_and_shown_in_london(session: Session) -> None:
    clinician = add_clinician(session)
    summer = datetime(2026, 7, 1, 11, 30, tzinfo=UTC)
    session.add(Shift(clinician_id=clinician.id, starts_at=summer, ends_at=T0))
    session.commit()
    session.expire_all()
    stored = session.scalars(select(Shift.starts_at).order_by(Shift.starts_at)).all()
    assert summer in stored
    assert all(moment.tzinfo == UTC for moment in stored)
    assert london(summer) == "01 Jul 2026 12:30:00 BST"
    assert london(T0) == "23 Nov 2026 03:00:00 GMT"


def test_naive_times_are_refused(session: Session) -> None:
    clinician = add_clinician(session)
    naive = datetime(2026, 11, 23, 3, 0)  # noqa: DTZ001 - the point of the test
    session.add(Shift(clinician_id=clinician.id, starts_at=naive, ends_at=T0))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_the_audit_log_cannot_be_changed_or_deleted_through_the_app(session: Session) -> None:
    add_request(session)
    session.commit()
    event = session.scalars(select(AuditEvent)).first()
    assert event is not None
    event.action = "request.forged"
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.rollback()
    session.delete(event)
    with pytest.raises(AuditLogIsAppendOnly):
        session.flush()
    session.rollback()
    assert session.get_one(AuditEvent, event.id).action == "request.created"


def test_anonymous_visitors_see_what_the_line_is_and_no_live_figures(
    app: Flask, session: Session
) -> None:
    add_request(session, now=datetime.now(UTC))
    session.commit()
    response = app.test_client().get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Mental-health advice for police officers" in page
    assert 'href="/login"' in page
    for figure in ("waiting", "longest-wait", "available", "in-progress", "Requests waiting"):
        assert figure not in page


def test_signed_in_staff_on_the_landing_page_go_to_their_start_page(
    app: Flask, session: Session
) -> None:
    clinician = add_clinician(session)
    clinician.user.password_hash = generate_password_hash(DEMO_PASSWORD)
    session.commit()
    response = sign_in(app, clinician.user.username).get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/console"
