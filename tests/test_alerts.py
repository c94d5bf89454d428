"""The alert rules shipped in deploy/prometheus, and the metrics they are written on."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from typing import Any

import pytest
import redis
import yaml
from flask import Flask
from sqlalchemy.orm import Session

from advice_line import PROJECT_ROOT
from advice_line.cli import build_scheduler
from advice_line.clock import utcnow
from advice_line.models import ClinicianStatus, OutboxItem, OutboxKind, OutboxPurpose, OutboxState
from tests.builders import add_clinician, add_request
from tests.test_metrics import scrape

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = PROJECT_ROOT / "deploy" / "prometheus" / "alerts_test.yml"
GUIDE = PROJECT_ROOT / "docs" / "OPERATIONS.md"
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
METRIC = re.compile(r"\badvice_line_[a-z_]+\b")
SEVERITIES = {"critical", "warning", "info"}
#: What the issue asks an on-call operator be woken for, at least.
REQUIRED = {
    "AdviceLineLongestWaitPastTarget",
    "AdviceLineNoQualifyingClinicianOnDuty",
    "AdviceLineSchedulerLagging",
    "AdviceLineDatabaseDown",
    "AdviceLineRedisDown",
}


@pytest.fixture
def app_env(redis_url: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def guide_anchors() -> set[str]:
    """GitHub's anchors for the guide's headings."""
    headings = re.findall(r"^#+ (.+)$", GUIDE.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-") for title in headings}


def test_every_rule_has_a_wait_a_severity_a_summary_and_a_runbook_section() -> None:
    found = rules()
    assert {rule["alert"] for rule in found} >= REQUIRED
    anchors = guide_anchors()
    for rule in found:
        name = rule["alert"]
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, name
        assert DURATION.match(rule["for"]), f"{name}: for {rule['for']!r}"
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["summary"], name
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/OPERATIONS.md", name
        assert anchor in anchors, f"{name}: no section #{anchor} in docs/OPERATIONS.md"


def test_every_metric_the_rules_read_is_exported(app: Flask, session: Session) -> None:
    build_scheduler("alerts-test").tick()  # a scheduler's tick, for its lag
    exported = {name.removesuffix("_total") for name in scrape(app)}
    for rule in rules():
        for metric in METRIC.findall(rule["expr"]):
            assert metric.removesuffix("_total") in exported, f"{rule['alert']}: {metric}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules_and_each_alert_fires_on_its_series() -> None:
    for command in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        done = subprocess.run(
            ["promtool", *command], capture_output=True, text=True, check=False, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert tested == {rule["alert"] for rule in rules()}, "every alert has a promtool test"


def test_clinicians_on_duty_counts_signed_in_qualifying_clinicians_busy_or_not(
    app: Flask, session: Session
) -> None:
    now = utcnow()
    add_clinician(session, shift_around=now)
    add_clinician(session, shift_around=now, status=ClinicianStatus.ON_CALL)
    add_clinician(session, shift_around=now, status=ClinicianStatus.OFFLINE)
    add_clinician(session, shift_around=now, on_shift=False)
    add_clinician(session, shift_around=now, registered=False)
    session.commit()

    seen = scrape(app)
    assert seen["advice_line_clinicians_on_duty"] == 2
    assert seen["advice_line_clinicians_available"] == 1


def test_the_longest_wait_is_exported_beside_the_answer_target(
    app: Flask, session: Session
) -> None:
    add_request(session, now=utcnow() - timedelta(seconds=45))
    session.commit()
    seen = scrape(app)
    assert seen["advice_line_answer_target_seconds"] == 30
    assert seen["advice_line_longest_wait_seconds"] > seen["advice_line_answer_target_seconds"]


def test_the_scheduler_lag_is_the_time_since_its_last_tick(app: Flask) -> None:
    assert "advice_line_scheduler_last_tick_seconds" not in scrape(app)
    started = utcnow()
    scheduler = build_scheduler("alerts-test")
    scheduler.clock = lambda: started - timedelta(minutes=3)
    scheduler.tick()
    assert 180 <= scrape(app)["advice_line_scheduler_last_tick_seconds"] < 200

    scheduler.clock = utcnow
    scheduler.tick()
    assert scrape(app)["advice_line_scheduler_last_tick_seconds"] < 5


def test_outbox_rows_not_placed_and_given_up_are_exported(app: Flask, session: Session) -> None:
    now = utcnow()
    request = add_request(session, now=now)
    for state, due in ((OutboxState.PENDING, 150), (OutboxState.FAILED, 600)):
        session.add(
            OutboxItem(
                kind=OutboxKind.MESSAGE,
                purpose=OutboxPurpose.REPLY,
                state=state,
                request_id=request.id,
                payload={"to": "+447700900123", "body": "hello"},
                created_at=now - timedelta(seconds=due),
                due_at=now - timedelta(seconds=due),
            )
        )
    session.commit()
    seen = scrape(app)
    assert seen["advice_line_outbox_due"] == 1
    assert 150 <= seen["advice_line_outbox_oldest_due_seconds"] < 170
    assert seen["advice_line_outbox_failed"] == 1


def test_redis_up_follows_a_ping(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    assert scrape(app)["advice_line_redis_up"] == 1

    def refused(_self: redis.Redis) -> None:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(redis.Redis, "ping", refused)
    assert scrape(app)["advice_line_redis_up"] == 0


def test_without_redis_configured_there_is_no_redis_metric(
    app_maker: Any, database_url: str
) -> None:
    other: Flask = app_maker(database_url)
    with other.app_context():
        assert "advice_line_redis_up" not in scrape(other)
