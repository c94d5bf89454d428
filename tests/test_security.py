"""Abuse: oversized bodies, forged forms, injection, sign-in guessing, roles, headers."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from advice_line import create_app, lifecycle
from advice_line.clock import utcnow
from advice_line.config import ConfigurationError
from advice_line.console.payloads import REFUSED_ANSWER
from advice_line.demo import DEMO_PASSWORD
from advice_line.extensions import db, socketio
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Message,
    Task,
    User,
)
from tests.conftest import PRODUCTION_ENV, demo_env, forget_request_globals
from tests.fake_twilio import FakeTwilio
from tests.test_console import (
    ACTOR,
    FreshSocket,
    assert_sign_ins_refused,
    busy_floor,
    connect,
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
    return busy_floor(session)


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
    # Administration's forms: tests/test_admin_*.py and tests/test_second_factor*.py.
    assert form_posts(app) == [
        "admin.add_pattern",
        "admin.add_phone",
        "admin.add_shift",
        "admin.change_phone",
        "admin.change_role",
        "admin.clinician",
        "admin.deactivate",
        "admin.force_change",
        "admin.generate",
        "admin.import_officers",
        "admin.import_rota",
        "admin.mark_leaver",
        "admin.new_account",
        "admin.reactivate",
        "admin.remove_pattern",
        "admin.remove_shift",
        "admin.reset_password",
        "admin.reset_second_factor",  # tests/test_second_factor_admin.py
        "admin.set_sso_identity",
        "admin.unlock",
        "auth.enrol",  # tests/test_second_factor.py
        "auth.login",
        "auth.logout",
        "auth.new_password",
        "auth.second_factor",
        "console.bring_in",
        "console.extend_detention",
        "console.floor",
        "console.link_person",  # tests/test_search.py
        "console.nuisance",
        "console.phone_token",  # tests/test_browser_phone.py
        "console.record_detention",
        "console.request_step",
        "console.save_record",
        "console.send_message",
        "console.supervise",
        "console.tasks",
        "console.third_party_step",
        "console.unlink_person",  # tests/test_search.py
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
        "/console/requests/{id}/detention",
        "/console/requests/{id}/detention/extend",
        "/console/requests/{id}/nuisance",
        "/console/api/phone-token",
        "/console/requests/{id}/third-party",
        "/console/requests/{id}/third-party/together",
        "/console/requests/{id}/third-party/drop",
        "/console/requests/{id}/third-party/hand_over",
        "/console/floor/calls/{id}/listen",
        "/console/floor/calls/{id}/coach",
        "/console/floor/calls/{id}/join",
        "/console/floor/calls/{id}/stop",
        "/admin/officers/import",
        "/admin/officers/{id}/phones",
        "/admin/officers/{id}/phones/verify",
        "/admin/officers/{id}/leaver",
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
        "decision": "detained",
        "arrived_at": "00:01",
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


def test_a_csrf_token_lasts_as_long_as_the_session(
    app: Flask, demo: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long record is not lost to an hour-old token; the session's end still ends it."""
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None
    request = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    token = csrf(client, path)
    issued = int(time.time())
    draft = {**record_form(rationale="Still talking"), "intent": "draft", "csrf_token": token}

    def clock_at(seconds: int) -> None:
        # What itsdangerous stamps and checks the token (and the session cookie) with.
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _signer: seconds)

    clock_at(issued + 61 * 60)
    response = client.post(f"{path}/record", data=draft)
    assert response.status_code == 302, response.get_data(as_text=True)
    demo.rollback()
    assert demo.scalars(select(AdviceRecord.rationale)).one() == "Still talking"
    clock_at(issued + 61 * 60 + 12 * 3600 + 60)  # past SESSION_HOURS since the last request
    response = client.post(f"{path}/record", data={**draft, "rationale": "Too late"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


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
    volume = re.compile(r'id="volume">(?:<a href="[^"]*">)?(\d+)<')

    def shown(**filters: str) -> int:
        page = client.get("/reports/", query_string={**period, **filters})
        assert page.status_code == 200
        found = volume.search(page.get_data(as_text=True))
        assert found is not None
        return int(found.group(1))

    assert shown() == 1
    assert shown(area=attempt) == 0
    exported = client.get("/reports/requests.csv", query_string={**period, "area": attempt})
    assert exported.get_data(as_text=True).count("\n") == 1, "the header line only"
    # Forces and clinicians are picked from lists: anything else is refused.
    for name in ("force", "clinician"):
        assert client.get("/reports/", query_string={**period, name: attempt}).status_code == 400
        listed = client.get("/reports/requests", query_string={**period, name: attempt})
        assert listed.status_code == 400
    exported = client.get("/reports/requests.csv", query_string={**period, "force": attempt})
    assert exported.status_code == 400
    # Nothing changed but the audit log: two dashboards and one export seen (not the 400s).
    tables_intact(demo, before | {"audit_event": before["audit_event"] + 3})


# --- where sign-in leads: only a path on this site ------------------------------------

#: ``next`` values as the app reads them (already decoded from the query string once).
HOSTILE_NEXT = [
    "/\t/evil.example/x",  # what ?next=/%09/evil.example/x gives: browsers drop the tab
    "/%09/evil.example/x",  # the same, percent-encoded once more
    "\r\nSet-Cookie:x",
    "/\r\nSet-Cookie:x",
    "%0d%0aSet-Cookie:x",
    "/%0d%0aSet-Cookie:x",
    "/\x00",
    "/\x7f/x",
    "\\\\evil",
    "/\\evil",
    "/%5cevil",
    "/\\/evil.example",
    "https://evil",
    "http:/evil",
    "//evil",
    "///evil",
    "/%2f/evil",
    "javascript:alert(1)",
    "evil.example",
    " /console",
    "",
]


def signed_in_to(client: FlaskClient, url: str, username: str = "amira") -> str:
    """Sign in at ``url``; return where the answer leads (a 302 is required)."""
    response = client.post(
        url, data={"username": username, "password": DEMO_PASSWORD, "csrf_token": csrf(client)}
    )
    assert response.status_code == 302, response.status_code
    location = response.headers["Location"]
    on_site = urlsplit(urljoin("http://localhost/login", location))
    assert (on_site.scheme, on_site.netloc) == ("http", "localhost"), location
    return location


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_never_leads_off_the_site_and_never_errors(
    app: Flask, demo: Session, target: str
) -> None:
    client = app.test_client()
    assert signed_in_to(client, "/login?" + urlencode({"next": target})) == "/console"


@pytest.mark.parametrize("query", ["next=/%09/evil.example/x", "next=/%0d%0aSet-Cookie:x"])
def test_next_as_testers_sent_it_leads_home(app: Flask, demo: Session, query: str) -> None:
    assert signed_in_to(app.test_client(), f"/login?{query}") == "/console"


@pytest.mark.parametrize(
    ("username", "target"),
    [
        ("amira", "/console/tasks"),
        ("morgan", "/reports/?start=2026-01-01&force=City%20of%20London%20Police"),
        ("morgan", "/"),
    ],
)
def test_next_leads_to_a_path_on_this_site(
    app: Flask, demo: Session, username: str, target: str
) -> None:
    query = urlencode({"next": target})
    assert signed_in_to(app.test_client(), f"/login?{query}", username) == target


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
    assert "Too many failed sign-ins for this username from this address (the limit is 10 per" in (
        response.get_data(as_text=True)
    )
    assert "Retry-After" in response.headers
    assert client.get("/console").status_code == 302
    assert guess(client, "ben") == 400, "another username from here is not held up"
    assert guess(client, "amira", address="192.0.2.7") == 400, "nor the same one from elsewhere"


@pytest.mark.parametrize("mode", ["demo", "production"])
def test_the_demo_password_signs_in_only_in_demo_mode(
    app_maker: Callable[..., Flask], database_url: str, demo: Session, mode: str
) -> None:
    env = {"ADVICE_LINE_MODE": "production", **PRODUCTION_ENV} if mode == "production" else {}
    line = app_maker(database_url, **env)
    assert line.config["ADVICE_LINE_MODE"] == mode
    client = line.test_client()
    response = client.post(
        "/login",
        data={"username": "amira", "password": DEMO_PASSWORD, "csrf_token": csrf(client)},
    )
    if mode == "demo":
        assert response.status_code == 302
        assert client.get("/console").status_code == 200
        return
    assert response.status_code == 400
    assert (
        "This account still has the demo password, which is not accepted here. "
        "Ask an administrator to reset it."
    ) in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302, "not signed in"
    amira = demo.scalars(select(User).where(User.username == "amira")).one()
    amira.password_hash = generate_password_hash("a password of amira's own")
    demo.commit()
    response = client.post(
        "/login",
        data={
            "username": "amira",
            "password": "a password of amira's own",
            "csrf_token": csrf(client),
        },
    )
    assert response.status_code == 302, "any other password still signs in"


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


# --- socket payloads: size and depth checked before anything handles them -------------

SOCKET_EVENTS = ["heartbeat", "set_status", "accept", "decline", "watch_request", "phone"]
#: Payloads as JSON text, the way they arrive over the wire.
HOSTILE_PAYLOADS = {
    "a list 1,000 deep": "[" * 1000 + "]" * 1000,
    "an object 1,000 deep": '{"request_id":' * 1000 + "1" + "}" * 1000,
    "an oversized string": json.dumps("x" * 100_000),
    "an oversized list": json.dumps([1] * 30_000),
}


def from_the_wire(socket: FreshSocket, event: str, payload: str) -> Any:
    """Send ``event`` with ``payload`` (JSON text) as a served app receives it; the ack.

    The test client cannot encode a payload 1,000 deep itself (python-socketio's encoder
    recurses), so the packet is written by hand and handed to Engine.IO's message handler,
    which, as in production, logs whatever the Socket.IO server raises.
    """
    forget_request_globals()
    socket.callback_counter += 1
    text = f'2{socket.callback_counter}["{event}",{payload}]'
    socketio.server.eio._trigger_event("message", socket.eio_sid, text, run_async=False)
    ack, socket.acks = socket.acks, None
    return ack["args"][0] if ack else None


def logged_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Records at ERROR and above, and any record carrying a traceback."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]


@pytest.mark.parametrize("payload", sorted(HOSTILE_PAYLOADS))
@pytest.mark.parametrize("event", SOCKET_EVENTS)
def test_oversized_or_deeply_nested_socket_payloads_are_refused_plainly(
    app: Flask, demo: Session, caplog: pytest.LogCaptureFixture, event: str, payload: str
) -> None:
    caplog.set_level(logging.INFO)
    socket = connect(app, sign_in(app, "amira"))
    before = tables_intact(demo)
    answer = from_the_wire(socket, event, HOSTILE_PAYLOADS[payload])
    assert answer == REFUSED_ANSWER
    assert "larger or more deeply nested" in answer["error"]
    assert logged_errors(caplog) == []
    tables_intact(demo, before)
    assert socket.emit("heartbeat", {}, callback=True) == {"ok": True}, "the console carries on"
    socket.disconnect()


@pytest.mark.parametrize("event", SOCKET_EVENTS)
def test_an_oversized_socket_payload_from_the_test_client_is_refused(
    app: Flask, demo: Session, caplog: pytest.LogCaptureFixture, event: str
) -> None:
    socket = connect(app, sign_in(app, "amira"))
    answer = socket.emit(event, {"status": "x" * 100_000, "request_id": 1}, callback=True)
    assert answer == REFUSED_ANSWER
    assert logged_errors(caplog) == []
    socket.disconnect()


def test_ordinary_socket_payloads_still_pass(app: Flask, demo: Session) -> None:
    socket = connect(app, sign_in(app, "amira"))
    assert socket.emit("heartbeat", {}, callback=True) == {"ok": True}
    assert socket.emit("set_status", {"status": "away"}, callback=True) == {"ok": True}
    text = '{"status": "available", "note": ' + json.dumps('\\[{"' * 300) + "}"
    assert from_the_wire(socket, "set_status", text) == {"ok": True}, "brackets in text are text"
    socket.disconnect()


# --- security headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/login", 200),
        ("GET", "/healthz", 200),
        ("GET", "/no-such-page", 404),
        ("GET", "static:console.js", 200),  # answered by WhiteNoise, not Flask
        ("GET", "static:vendor/socket.io/socket.io.min.js", 200),
        ("GET", "/static/console.js", 404),  # only built (hashed) names are served
        ("POST", "/twilio/sms", 403),
        ("GET", "/twilio/voice/fallback", 200),
        ("GET", "/console", 302),
    ],
)
def test_every_response_carries_the_security_headers(
    app: Flask, method: str, path: str, status: int
) -> None:
    if path.startswith("static:"):
        with app.test_request_context():
            path = url_for("static", filename=path.removeprefix("static:"))
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
