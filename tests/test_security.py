"""Abuse: oversized bodies, forged forms, injection, sign-in guessing, roles, headers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from advice_line import create_app, lifecycle
from advice_line.clock import utcnow
from advice_line.config import ConfigurationError
from advice_line.demo import DEMO_PASSWORD, seed_demo
from advice_line.extensions import db
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Message,
    Task,
)
from tests.conftest import PRODUCTION_ENV, demo_env
from tests.fake_twilio import FakeTwilio
from tests.test_console import (
    ACTOR,
    assert_sign_ins_refused,
    csrf,
    message_request,
    post_record,
    record_form,
    sign_in,
)
from tests.twilio_support import Twilio, twilio_env

POLICY = RoutingPolicy()
INJECTIONS = [
    "'; DROP TABLE advice_request; --",
    "' OR '1'='1",
    "1; DELETE FROM user_account",
    "\\'; UPDATE user_account SET role='manager'; --",
]


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url)


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def tables_intact(session: Session, counts: dict[str, int] | None = None) -> dict[str, int]:
    """Every table is still there; return their row counts (equal to ``counts`` if given)."""
    session.rollback()
    assert set(inspect(session.connection()).get_table_names()) >= set(db.metadata.tables)
    now = {
        table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in db.metadata.sorted_tables
    }
    if counts is not None:
        assert now == counts
    return now


# --- 413: oversized bodies ------------------------------------------------------------


def test_an_oversized_webhook_is_refused_before_anything_is_stored(
    twilio: Twilio, session: Session
) -> None:
    params = {"MessageSid": "SM" + "a" * 32, "From": "+447700900301", "Body": "x" * 200_000}
    response = twilio.post("/twilio/sms", params)
    assert response.status_code == 413
    assert session.scalar(select(func.count(Message.id))) == 0
    assert session.scalar(select(func.count(AdviceRequest.id))) == 0


def test_oversized_forms_are_refused(app: Flask, demo: Session) -> None:
    client = sign_in(app, "amira")
    request = message_request(demo, accepted_by="amira")
    path = f"/console/requests/{request.id}"
    token = csrf(client, path)
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    assert client.post("/login", data={"username": huge, "csrf_token": token}).status_code == 413
    response = client.post(
        f"{path}/record", data={**record_form(rationale=huge), "csrf_token": token}
    )
    assert response.status_code == 413
    demo.rollback()
    assert demo.scalar(select(func.count(AdviceRecord.id))) == 0


def test_the_longest_record_anyone_may_write_still_fits(app: Flask, demo: Session) -> None:
    client = sign_in(app, "amira")
    request = message_request(demo, accepted_by="amira")
    wide = "\U0001f693"  # four bytes of UTF-8, twelve once form-encoded
    response = post_record(
        client,
        request,
        intent="draft",
        rationale=wide * 5000,
        destination=wide * 200,
        follow_up=wide * 500,
        area=wide * 80,
    )
    assert response.status_code == 302
    demo.rollback()
    assert demo.scalars(select(AdviceRecord.rationale)).one() == wide * 5000


def test_the_body_limit_comes_from_max_request_bytes(tmp_path: Path) -> None:
    env = demo_env(f"sqlite:///{tmp_path / 'l.sqlite3'}", MAX_REQUEST_BYTES="2048")
    assert create_app(env=env).config["MAX_CONTENT_LENGTH"] == 2048
    with pytest.raises(ConfigurationError, match="MAX_REQUEST_BYTES"):
        create_app(env={**env, "MAX_REQUEST_BYTES": "lots"})


# --- CSRF on every form ---------------------------------------------------------------


def form_posts(app: Flask) -> list[str]:
    """Every POST endpoint outside Twilio's webhooks (which are signed instead)."""
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and not rule.endpoint.startswith("twilio.")
    )


def test_every_form_is_known_to_the_csrf_test(app: Flask) -> None:
    assert form_posts(app) == [
        "auth.login",
        "auth.logout",
        "console.floor",
        "console.request_step",
        "console.save_record",
        "console.send_message",
        "console.tasks",
    ]


@pytest.mark.parametrize("token", ["missing", "forged", "another session's"])
@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/logout",
        "/console/floor",
        "/console/tasks",
        "/console/requests/{id}/record",
        "/console/requests/{id}/message",
        "/console/requests/{id}/end",
        "/console/requests/{id}/call_back",
    ],
)
def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    app: Flask, demo: Session, path: str, token: str
) -> None:
    request = message_request(demo, accepted_by="sam")
    lifecycle.abandon(demo, message_request(demo).id, now=utcnow(), actor=ACTOR, policy=POLICY)
    demo.commit()
    client = sign_in(app, "sam")
    before = tables_intact(demo)
    data = {
        "username": "sam",
        "password": DEMO_PASSWORD,
        "task_id": str(demo.scalars(select(Task.id)).first()),
        "request_id": str(request.id),
        "intent": "complete",
        "body": "On my way",
        **record_form(),
    }
    if token == "forged":
        data["csrf_token"] = "forged-token"
    elif token == "another session's":
        data["csrf_token"] = csrf(app.test_client())
    response = client.post(path.format(id=request.id), data=data)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    tables_intact(demo, before)
    assert client.get("/console/tasks").status_code == 200, "still signed in"


# --- SQL injection is data ------------------------------------------------------------


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_sign_in_with_sql_in_the_username_or_password_fails_plainly(
    app: Flask, demo: Session, attempt: str
) -> None:
    before = tables_intact(demo)
    assert_sign_ins_refused(
        app.test_client(), ((attempt, attempt), ("amira", attempt), (attempt, DEMO_PASSWORD))
    )
    tables_intact(demo, before)


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_sql_in_webhook_parameters_is_stored_as_text(
    twilio: Twilio, session: Session, attempt: str
) -> None:
    sid = "SM" + uuid.uuid4().hex
    twilio.twiml("/twilio/sms", {"MessageSid": sid, "From": "+447700900301", "Body": attempt})
    response = twilio.post("/twilio/sms", {"MessageSid": attempt, "From": attempt, "Body": "x"})
    assert response.status_code == 400
    call = "CA" + uuid.uuid4().hex
    twilio.twiml("/twilio/voice", {"CallSid": call, "From": attempt})
    counts = tables_intact(session)
    assert session.scalars(select(Message.body).where(Message.message_sid == sid)).one() == attempt
    assert (counts["advice_request"], counts["message"], counts["call_leg"]) == (2, 1, 1)


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_sql_in_the_record_form_is_kept_as_written(app: Flask, demo: Session, attempt: str) -> None:
    client = sign_in(app, "amira")
    request = message_request(demo, accepted_by="amira")
    response = post_record(client, request, intent="draft", destination=attempt, area=attempt)
    assert response.status_code == 302
    tables_intact(demo)
    assert demo.scalars(select(AdviceRecord.destination)).one() == attempt
    assert demo.get_one(AdviceRequest, request.id).area == attempt


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_sql_in_a_report_filter_matches_nothing(app: Flask, demo: Session, attempt: str) -> None:
    message_request(demo)
    client = sign_in(app, "morgan")
    before = tables_intact(demo)
    today = utcnow().date().isoformat()
    period = {"start": today, "end": today}
    volume = re.compile(r'id="volume">(\d+)<')

    def shown(**filters: str) -> int:
        page = client.get("/reports/", query_string={**period, **filters})
        assert page.status_code == 200
        found = volume.search(page.get_data(as_text=True))
        assert found is not None
        return int(found.group(1))

    assert shown() == 1
    assert shown(force=attempt) == shown(area=attempt) == 0
    exported = client.get("/reports/requests.csv", query_string={**period, "force": attempt})
    assert exported.get_data(as_text=True).count("\n") == 1, "the header line only"
    assert client.get("/reports/", query_string={**period, "clinician": attempt}).status_code == 400
    # Nothing changed but the audit log: three dashboards and one export seen (not the 400).
    tables_intact(demo, before | {"audit_event": before["audit_event"] + 4})


# --- sign-in guessing -----------------------------------------------------------------


def guess(client: FlaskClient, username: str, address: str = "") -> int:
    """One sign-in attempt; its status code."""
    environ = {"REMOTE_ADDR": address} if address else {}
    token = csrf(client)
    response = client.post(
        "/login",
        data={"username": username, "password": "a guess", "csrf_token": token},
        environ_base=environ,
    )
    return response.status_code


def test_failed_sign_ins_are_limited_per_address_and_username(app: Flask, demo: Session) -> None:
    assert app.config["LOGIN_RATE_LIMIT"] == "10 per minute", "on by default"
    client = app.test_client()
    assert [guess(client, "amira") for _ in range(10)] == [400] * 10
    response = client.post(
        "/login",
        data={"username": "amira", "password": DEMO_PASSWORD, "csrf_token": csrf(client)},
    )
    assert response.status_code == 429, "even the right password waits"
    assert "Too many failed sign-ins for this username (the limit is 10 per 1 minute)" in (
        response.get_data(as_text=True)
    )
    assert "Retry-After" in response.headers
    assert client.get("/console").status_code == 302
    assert guess(client, "ben") == 400, "another username from here is not held up"
    assert guess(client, "amira", address="192.0.2.7") == 400, "nor the same one from elsewhere"


def test_successful_sign_ins_do_not_count(app: Flask, demo: Session) -> None:
    for _ in range(12):
        sign_in(app, "amira")


def test_the_sign_in_limit_is_configurable_and_can_be_off(
    app_maker: Callable[..., Flask], database_url: str, demo: Session
) -> None:
    strict = app_maker(database_url, LOGIN_RATE_LIMIT="2 per hour")
    client = strict.test_client()
    assert [guess(client, "ben") for _ in range(3)] == [400, 400, 429]
    relaxed = app_maker(database_url, LOGIN_RATE_LIMIT="off")
    client = relaxed.test_client()
    assert {guess(client, "ben") for _ in range(12)} == {400}
    with pytest.raises(ConfigurationError, match="LOGIN_RATE_LIMIT"):
        app_maker(database_url, LOGIN_RATE_LIMIT="often")


@pytest.mark.redis
def test_processes_count_failed_sign_ins_together_in_redis(
    app_maker: Callable[..., Flask], database_url: str, redis_url: str, demo: Session
) -> None:
    first = app_maker(database_url, REDIS_URL=redis_url)
    assert first.config["RATELIMIT_STORAGE_URI"] == redis_url
    username = f"nobody-{uuid.uuid4().hex}"
    assert [guess(first.test_client(), username) for _ in range(5)] == [400] * 5
    second = app_maker(database_url, REDIS_URL=redis_url)  # a process started afterwards
    assert [guess(second.test_client(), username) for _ in range(6)] == [400] * 5 + [429]


# --- roles: every manager page ---------------------------------------------------------


def manager_urls(app: Flask, request_id: int) -> list[tuple[str, str]]:
    """(method, URL) of every route of the reports blueprint, present and future."""
    adapter = app.url_map.bind("localhost")
    return sorted(
        (method, adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, request_id)))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("reports.")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    )


@pytest.mark.parametrize("role", ["amira", "sam", "alex"])
def test_nobody_but_a_manager_reaches_any_manager_url(app: Flask, demo: Session, role: str) -> None:
    request = message_request(demo)
    urls = manager_urls(app, request.id)
    assert len(urls) >= 6
    client, manager = sign_in(app, role), sign_in(app, "morgan")
    for method, url in urls:
        assert client.open(url, method=method).status_code == 403, url
        assert manager.open(url, method=method).status_code == 200, url


# --- security headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/login", 200),
        ("GET", "/healthz", 200),
        ("GET", "/no-such-page", 404),
        ("GET", "/static/console.js", 200),
        ("GET", "/vendor/socket.io/socket.io.min.js", 200),
        ("POST", "/twilio/sms", 403),
        ("GET", "/twilio/voice/fallback", 200),
        ("GET", "/console", 302),
    ],
)
def test_every_response_carries_the_security_headers(
    app: Flask, method: str, path: str, status: int
) -> None:
    with app.test_client().open(path, method=method) as response:
        assert response.status_code == status
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe" not in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers, "demo runs on plain http"


def test_production_tells_browsers_to_use_https_only(tmp_path: Path) -> None:
    production = create_app(
        env={**PRODUCTION_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}
    )
    response = production.test_client().get("/twilio/voice/fallback")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL)


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("anonymous", "/login"),
        ("sam", "/console"),
        ("sam", "/console/floor"),
        ("amira", "/console/tasks"),
        ("morgan", "/reports/"),
        ("morgan", "/reports/live"),
    ],
)
def test_no_page_needs_inline_script_which_the_policy_blocks(
    app: Flask, demo: Session, role: str, path: str
) -> None:
    page = sign_in(app, role).get(path).get_data(as_text=True)
    for attributes, body in SCRIPT.findall(page):
        assert "src=" in attributes or 'type="application/json"' in attributes, body[:80]
        assert "src=" not in attributes or not body.strip()
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"
    assert " style=" not in page, "no inline styles"
