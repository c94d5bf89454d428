"""Faults under load, against real gunicorn processes: the drills in ``drills/`` as tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from drills import attack, kill9, postgres_down, redis_down

pytestmark = [pytest.mark.slow, pytest.mark.drill]


@pytest.fixture(autouse=True)
def _unique_app_role(app_role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrations grant a role of the test's own, not one the shared server keeps."""
    monkeypatch.setenv("DATABASE_APP_ROLE", app_role)


def test_kill_9_under_load_loses_nothing_acknowledged_and_fires_each_timer_once(
    database_url: str, tmp_path: Path
) -> None:
    findings = kill9.run(database_url, "drill", tmp_path, load_seconds=4)
    assert findings.failures == []


@pytest.mark.postgres
def test_redis_down_degrades_two_processes_and_pushes_resume_when_it_returns(
    postgres_url: str, tmp_path: Path
) -> None:
    findings = redis_down.run(postgres_url, tmp_path, outage_seconds=6)
    assert findings.failures == []


@pytest.mark.postgres
def test_postgres_down_loses_no_message_or_hang_up_and_reconnects(
    postgres_url: str, tmp_path: Path
) -> None:
    with postgres_down.proxied(postgres_url) as outage:
        findings = postgres_down.run(outage, tmp_path, outage_seconds=4)
    assert findings.failures == []


def test_officers_calls_answer_as_fast_under_idle_websockets_and_a_sign_in_flood(
    tmp_path: Path,
) -> None:
    findings = attack.run(
        f"sqlite:///{tmp_path / 'attack.sqlite3'}",
        tmp_path,
        anonymous=300,
        flood=10,
        phase_seconds=10,
    )
    assert findings.failures == []
