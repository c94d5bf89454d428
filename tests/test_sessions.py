"""Sessions that end: sign-out and deactivation end every copy, and nothing slides.

Issue 12 found a copied cookie still opening the console after sign-out (from another
address), each request issuing a fresh 12-hour cookie, and an open console receiving
pushes after sign-out or deactivation.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import requests
import socketio
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import PROJECT_ROOT
from advice_line.auth import sessions
from advice_line.clock import utcnow
from advice_line.config import ConfigurationError
from advice_line.console.live import CONSOLES
from advice_line.demo import DEMO_PASSWORD, seed_demo
from advice_line.extensions import socketio as server
from advice_line.models import AdviceRecord, AuditEvent, SessionEnd, User, UserSession
from drills.harness import signed_in_cookie
from tests.conftest import demo_env, migrate_and_seed, start_server, stop_server
from tests.test_console import connect, csrf, message_request, record_form, sign_in
from tests.twilio_support import twilio_env


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser, elsewhere, holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    thief.environ_base["REMOTE_ADDR"] = "203.0.113.66"
    return thief


def sign_out(client: FlaskClient) -> None:
    response = client.post("/logout", data={"csrf_token": csrf(client, "/console")})
    assert response.status_code == 302


def clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The time the session check sees."""
    monkeypatch.setattr(sessions, "utcnow", lambda: moment)


def row_of(session: Session, username: str) -> UserSession:
    session.rollback()
    return session.scalars(
        select(UserSession)
        .join(User, User.id == UserSession.user_id)
        .where(User.username == username)
    ).one()


def test_sign_out_ends_every_copy_of_the_cookie(app: Flask, demo: Session) -> None:
    client = sign_in(app, "amira")
    thief = copy_of(app, client)
    assert thief.get("/console").status_code == 200, "the finding: a copy works while signed in"
    sign_out(client)
    assert thief.get("/console").status_code == 302
    assert thief.get("/console/api/state").status_code == 401
    assert client.get("/console").status_code == 302
    row = row_of(demo, "amira")
    assert row.ended_reason == SessionEnd.SIGNED_OUT
    assert sign_in(app, "amira").get("/console").status_code == 200, "signing in again works"


def test_a_copied_cookie_cannot_save_a_record_after_sign_out(app: Flask, demo: Session) -> None:
    request = message_request(demo, accepted_by="amira")
    client = sign_in(app, "amira")
    path = f"/console/requests/{request.id}"
    token = csrf(client, path)
    thief = copy_of(app, client)
    sign_out(client)
    response = thief.post(
        f"{path}/record", data={**record_form(rationale="forged"), "csrf_token": token}
    )
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    demo.rollback()
    assert demo.scalar(select(AdviceRecord.id)) is None


def test_requests_do_not_issue_a_fresh_cookie(app: Flask, demo: Session) -> None:
    client = sign_in(app, "amira")
    for page in ("/console", "/console/api/state", "/console/tasks"):
        response = client.get(page)
        assert response.status_code == 200
        assert "session=" not in response.headers.get("Set-Cookie", ""), page


def test_a_session_ends_session_hours_after_sign_in_however_busy(
    app: Flask, demo: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    client = sign_in(app, "amira")
    signed_in_at = row_of(demo, "amira").started_at
    for minutes in range(20, 12 * 60, 20):  # used every 20 minutes: never idle
        clock_at(monkeypatch, signed_in_at + timedelta(minutes=minutes))
        assert client.get("/console").status_code == 200, minutes
    clock_at(monkeypatch, signed_in_at + timedelta(hours=12, seconds=1))
    assert client.get("/console").status_code == 302
    assert row_of(demo, "amira").ended_reason == SessionEnd.EXPIRED


def test_a_session_unused_for_the_idle_limit_ends(
    app: Flask, demo: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert app.config["SESSION_IDLE_MINUTES"] == 30
    client = sign_in(app, "amira")
    signed_in_at = row_of(demo, "amira").started_at
    clock_at(monkeypatch, signed_in_at + timedelta(minutes=29))
    assert client.get("/console").status_code == 200, "used within the limit"
    assert row_of(demo, "amira").last_seen_at == signed_in_at + timedelta(minutes=29)
    clock_at(monkeypatch, signed_in_at + timedelta(minutes=29, seconds=30))
    assert client.get("/console").status_code == 200
    row = row_of(demo, "amira")
    assert row.last_seen_at == signed_in_at + timedelta(minutes=29), "written once a minute"
    clock_at(monkeypatch, signed_in_at + timedelta(minutes=29 + 30))
    assert client.get("/console").status_code == 302
    assert row_of(demo, "amira").ended_reason == SessionEnd.IDLE


def test_the_session_limits_come_from_the_environment(
    app_maker: Callable[..., Flask], database_url: str
) -> None:
    line = app_maker(database_url, SESSION_HOURS="8", SESSION_IDLE_MINUTES="15")
    assert line.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)
    assert line.config["SESSION_IDLE_MINUTES"] == 15
    with pytest.raises(ConfigurationError, match="SESSION_IDLE_MINUTES"):
        app_maker(database_url, SESSION_IDLE_MINUTES="0")


# --- sockets ---------------------------------------------------------------------------


def test_sign_out_disconnects_the_sessions_sockets_and_they_get_no_more_pushes(
    app: Flask, demo: Session
) -> None:
    client = sign_in(app, "amira")
    console, copied = connect(app, client), connect(app, copy_of(app, client))
    other = connect(app, sign_in(app, "ben"))
    for socket in (console, copied, other):
        assert socket.is_connected()
        socket.get_received()
    sign_out(client)
    assert not console.is_connected()
    assert not copied.is_connected()
    assert other.is_connected(), "another clinician's console is untouched"
    pushed_to = list(server.server.manager.get_participants("/", CONSOLES))
    assert len(pushed_to) == 1, "only the other console is still pushed to"
    server.emit("queue", [], to=CONSOLES)
    assert [e["name"] for e in other.get_received()] == ["queue"]
    other.disconnect()


def test_an_event_on_a_socket_whose_session_ended_elsewhere_is_refused_and_disconnects(
    app: Flask, demo: Session
) -> None:
    """A session ended where no message queue reached this process: the next event ends it."""
    client = sign_in(app, "amira")
    console = connect(app, client)
    row = row_of(demo, "amira")
    row.ended_at, row.ended_reason = utcnow(), SessionEnd.SIGNED_OUT
    demo.commit()
    answer = console.emit("heartbeat", {}, callback=True)
    assert answer == {"error": "Your session has ended: sign in again.", "status": 401}
    assert not console.is_connected()


def test_the_sweep_disconnects_a_silent_socket_whose_session_expired_or_ended_elsewhere(
    app: Flask, demo: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live board sends no events: the process's sweep ends it all the same."""
    board = connect(app, sign_in(app, "morgan"))
    console = connect(app, sign_in(app, "amira"))
    started = row_of(demo, "morgan").started_at
    clock_at(monkeypatch, started + timedelta(minutes=20))
    assert sessions.sweep(server.server) == []
    assert board.is_connected()
    clock_at(monkeypatch, started + timedelta(minutes=40))
    assert sessions.sweep(server.server) == [], "an open socket counts as use: never idle"
    assert board.is_connected()
    row = row_of(demo, "amira")
    row.ended_at, row.ended_reason = utcnow(), SessionEnd.SIGNED_OUT  # by a process unreached
    demo.commit()
    assert sessions.sweep(server.server) == [row.id]
    assert not console.is_connected()
    assert board.is_connected()
    clock_at(monkeypatch, started + timedelta(hours=12))
    assert len(sessions.sweep(server.server)) == 1
    assert not board.is_connected()
    assert row_of(demo, "morgan").ended_reason == SessionEnd.EXPIRED


def test_deactivation_ends_every_session_and_socket_and_sign_in(app: Flask, demo: Session) -> None:
    first, second = sign_in(app, "amira"), sign_in(app, "amira")
    console = connect(app, first)
    other = connect(app, sign_in(app, "ben"))
    result = app.test_cli_runner().invoke(args=["deactivate-user", "amira"])
    assert result.exit_code == 0, result.output
    assert "amira is deactivated; their sessions have ended." in result.output
    assert first.get("/console").status_code == 302
    assert second.get("/console").status_code == 302
    assert not console.is_connected()
    assert other.is_connected()
    demo.rollback()
    rows = demo.scalars(select(UserSession.ended_reason).join(User).where(User.username == "amira"))
    assert set(rows) == {SessionEnd.DEACTIVATED}
    event = demo.scalars(select(AuditEvent).where(AuditEvent.action == "user.deactivated")).one()
    assert event.detail == {"sessions_ended": 2}
    response = app.test_client().post(
        "/login",
        data={
            "username": "amira",
            "password": DEMO_PASSWORD,
            "csrf_token": csrf(app.test_client()),
        },
    )
    assert response.status_code == 400, "the right password no longer signs in"
    other.disconnect()


@pytest.mark.parametrize(
    ("username", "said"),
    [
        ("nobody", "No staff account is called 'nobody'."),
        ("amira", "amira is already deactivated."),
    ],
)
def test_deactivating_an_unknown_or_deactivated_user_says_so_and_changes_nothing(
    app: Flask, demo: Session, username: str, said: str
) -> None:
    runner = app.test_cli_runner()
    if username == "amira":
        assert runner.invoke(args=["deactivate-user", "amira"]).exit_code == 0
    demo.rollback()
    events = demo.scalars(select(AuditEvent.id)).all()
    result = runner.invoke(args=["deactivate-user", username])
    assert result.exit_code != 0
    assert said in result.output
    demo.rollback()
    assert demo.scalars(select(AuditEvent.id)).all() == events


# --- across processes ------------------------------------------------------------------


def console_on(base: str, cookie: str, ended: threading.Event) -> socketio.Client:
    """A console's socket on one server; ``ended`` is set when the server disconnects it."""
    client = socketio.Client(reconnection=False)

    @client.on("disconnect")
    def on_disconnect(reason: str = "") -> None:
        ended.set()

    client.connect(base, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10)
    return client


@pytest.mark.postgres
@pytest.mark.redis
def test_sign_out_and_deactivation_on_one_process_disconnect_consoles_on_another(
    postgres_url: str, redis_url: str
) -> None:
    extra = {**twilio_env("http://127.0.0.1:9"), "REDIS_URL": redis_url}
    migrate_and_seed(postgres_url, **extra)
    first, first_url = start_server(postgres_url, **extra)
    second, second_url = start_server(postgres_url, **extra)
    signed_out, deactivated = threading.Event(), threading.Event()
    try:
        amira = signed_in_cookie(first_url, "amira", DEMO_PASSWORD)
        amiras_console = console_on(second_url, amira, signed_out)
        bens_console = console_on(
            second_url, signed_in_cookie(first_url, "ben", DEMO_PASSWORD), deactivated
        )
        page = requests.get(f"{first_url}/console", headers={"Cookie": amira}, timeout=10).text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token is not None
        asked = time.monotonic()
        response = requests.post(
            f"{first_url}/logout",
            data={"csrf_token": token.group(1)},
            headers={"Cookie": amira},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302
        assert signed_out.wait(10), "the other process's socket was not disconnected"
        print(f"disconnected elsewhere {time.monotonic() - asked:.3f} s after sign-out began")
        assert bens_console.connected, "only the signed-out session's sockets"
        environment = {**os.environ, **demo_env(postgres_url, **extra)}
        asked = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "advice_line", "deactivate-user", "ben"],
            cwd=PROJECT_ROOT,
            env=environment,
            check=True,
            capture_output=True,
        )
        assert deactivated.wait(10), "the deactivated user's socket was not disconnected"
        print(f"disconnected {time.monotonic() - asked:.3f} s after the command began")
        assert (
            requests.get(
                f"{second_url}/console/api/state", headers={"Cookie": amira}, timeout=10
            ).status_code
            == 401
        )
        for console in (amiras_console, bens_console):
            console.disconnect()
    finally:
        outputs = [stop_server(first), stop_server(second)]
    for output in outputs:
        assert "Traceback" not in output, output
