"""GET /metrics: the line's state for Prometheus, for local scrapers or the token's bearer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from advice_line import metrics
from advice_line.clock import utcnow
from advice_line.demo import seed_demo
from advice_line.metrics import SLOW_READ_SECONDS
from advice_line.models import ClinicianStatus
from advice_line.routing import views
from tests.builders import add_clinician, add_request
from tests.fake_twilio import FakeTwilio
from tests.test_console import connect, sign_in
from tests.twilio_support import Twilio, twilio_env

TOKEN = "metrics-token-" + "m" * 20


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url)


def scrape(app: Flask, **request: Any) -> dict[str, float]:
    """Read /metrics as Prometheus does: ``name{label=value,...}`` to value."""
    response = app.test_client().get("/metrics", **request)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def a_minute_later(app: Flask) -> None:
    """Move the metrics' monotonic clock past the slow figures' keeping time."""
    line = app.extensions["advice_line_metrics"].line
    was = line.clock
    line.clock = lambda: was() + SLOW_READ_SECONDS + 1


def test_the_queue_clinicians_and_timers_are_read_when_scraped(
    app: Flask, session: Session
) -> None:
    empty = scrape(app)
    assert empty["advice_line_database_up"] == 1
    assert empty["advice_line_queue_length"] == 0
    assert empty["advice_line_longest_wait_seconds"] == 0
    assert empty["advice_line_timers_due"] == empty["advice_line_timers_overdue_seconds"] == 0

    now = utcnow()
    add_clinician(session, shift_around=now)
    add_clinician(session, shift_around=now, status=ClinicianStatus.AWAY)
    add_request(session, now=now - timedelta(seconds=90))
    add_request(session, now=now - timedelta(seconds=10))
    session.commit()
    seen = scrape(app)

    assert seen["advice_line_queue_length"] == 2
    assert 90 <= seen["advice_line_longest_wait_seconds"] < 120
    assert seen["advice_line_clinicians_available"] == 1
    # The older request's answer target (30 s) and both escalation steps (30 s, 60 s).
    assert seen["advice_line_timers_due"] == 3
    assert 60 <= seen["advice_line_timers_overdue_seconds"] < 90


def test_webhook_latency_and_statuses_are_counted(app: Flask, twilio: Twilio) -> None:
    status = twilio.post("/twilio/voice/status", {"CallSid": "CA1", "CallStatus": "completed"})
    assert status.status_code == 204
    assert twilio.post("/twilio/voice", {"CallSid": "CA2"}, sign=False).status_code == 403
    app.test_client().get("/healthz")
    seen = scrape(app)

    count = "advice_line_webhook_duration_seconds_count{endpoint=%s}"
    assert seen[count % "twilio.call_status"] == 1
    assert seen[count % "twilio.incoming_call"] == 1
    assert not any("health" in name for name in seen if name.startswith("advice_line_webhook"))
    assert seen["advice_line_webhook_duration_seconds_bucket{endpoint=twilio.call_status,le=15.0}"]
    assert seen["advice_line_http_requests_total{status=204}"] == 1
    assert seen["advice_line_http_requests_total{status=403}"] == 1
    assert seen["advice_line_http_requests_total{status=200}"] == 1


def test_open_console_connections_are_counted(app: Flask, session: Session) -> None:
    seed_demo(session, now=utcnow())
    session.commit()
    clinician = connect(app, sign_in(app, "amira"))
    board = connect(app, sign_in(app, "morgan"))
    refused = connect(app, sign_in(app, "alex"))
    assert not refused.is_connected()
    assert scrape(app)["advice_line_consoles_connected"] == 2
    clinician.disconnect()
    assert scrape(app)["advice_line_consoles_connected"] == 1
    board.disconnect()


def test_metrics_without_the_database_still_answer(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_: Any) -> None:
        raise OperationalError("SELECT", {}, ConnectionRefusedError())

    monkeypatch.setattr(views, "board", unreachable)
    seen = scrape(app)
    assert seen["advice_line_database_up"] == 0
    assert "advice_line_queue_length" not in seen
    assert "advice_line_consoles_connected" in seen


def test_without_a_token_only_local_direct_requests_read_metrics(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "10.0.0.7"}).status_code == 403
    forwarded = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 403


def test_with_a_token_only_its_bearer_reads_metrics(
    app_maker: Callable[..., Flask], tmp_path: Path
) -> None:
    app = app_maker(f"sqlite:///{tmp_path / 'metrics.sqlite3'}", METRICS_TOKEN=TOKEN)
    client = app.test_client()
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
    remote = {"REMOTE_ADDR": "10.0.0.7"}
    assert scrape(app, headers={"Authorization": f"Bearer {TOKEN}"}, environ_overrides=remote)


def test_coverage_and_lapses_are_read_once_a_minute_however_often_scraped(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinician = add_clinician(session)
    session.commit()
    reads: list[str] = []

    def counted(name: str) -> Callable[..., Any]:
        real = getattr(metrics, name)

        def read(*args: Any, **kwargs: Any) -> Any:
            reads.append(name)
            return real(*args, **kwargs)

        return read

    for name in ("coverage", "lapse_warnings"):
        monkeypatch.setattr(metrics, name, counted(name))
    assert scrape(app)["advice_line_registrations_lapsed"] == 0
    assert reads == ["coverage", "lapse_warnings"]

    clinician.registration_lapses_on = utcnow().date() - timedelta(days=5)
    session.commit()
    assert scrape(app)["advice_line_registrations_lapsed"] == 0, "kept within the minute"
    assert reads == ["coverage", "lapse_warnings"], "the second scrape read neither"

    a_minute_later(app)
    assert scrape(app)["advice_line_registrations_lapsed"] == 1
    assert reads == ["coverage", "lapse_warnings"] * 2
