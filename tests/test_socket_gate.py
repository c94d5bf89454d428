"""The console's sockets: engine.io refuses anonymous and crowded handshakes before a session."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from advice_line.clock import utcnow
from advice_line.console.gate import SIGN_IN_FIRST, too_many
from advice_line.demo import seed_demo
from tests.test_console import sign_in

POLLING = "/socket.io/?EIO=4&transport=polling"
WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"
UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}


@pytest.fixture
def app_env() -> dict[str, str]:
    return {"SOCKETS_PER_ADDRESS": "2"}


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def from_address(app: Flask, username: str, address: str) -> FlaskClient:
    """A browser at ``address``, signed in there (sessions are bound to the address)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    if username == "anonymous":
        return client
    signed = sign_in(app, username)
    client.environ_base["REMOTE_ADDR"] = address
    signed.environ_base["REMOTE_ADDR"] = address
    return signed


def opened_sid(client: FlaskClient) -> str:
    """Open an engine.io session by polling; return its sid."""
    response = client.get(POLLING)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert body.startswith("0{"), body
    return str(json.loads(body[1:])["sid"])


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("path", [POLLING, WEBSOCKET])
def test_an_anonymous_handshake_is_refused_before_engine_io_opens_a_session(
    app: Flask, path: str
) -> None:
    client = app.test_client()
    response = client.get(path, headers=UPGRADE if "websocket" in path else {})
    assert response.status_code == 401
    assert response.get_json() == {"message": SIGN_IN_FIRST}
    from advice_line.extensions import socketio

    assert socketio.server.eio.sockets == {}


@pytest.mark.usefixtures("demo")
def test_a_forged_or_stale_session_cookie_is_refused_like_none(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie("session", "eyJfdXNlcl9pZCI6IjEifQ.forged.signature")
    response = client.get(POLLING)
    assert response.status_code == 401


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("username", ["amira", "sam", "morgan"])
def test_clinicians_seniors_and_managers_get_a_session(app: Flask, username: str) -> None:
    assert opened_sid(sign_in(app, username))


@pytest.mark.usefixtures("demo")
def test_an_administrator_without_a_console_is_refused(app: Flask) -> None:
    response = sign_in(app, "alex").get(POLLING)
    assert response.status_code == 401
    assert response.get_json() == {"message": SIGN_IN_FIRST}


@pytest.mark.usefixtures("demo")
def test_one_address_holds_at_most_the_cap_and_others_are_not_affected(app: Flask) -> None:
    crowded = from_address(app, "amira", "192.0.2.7")
    first = opened_sid(crowded)
    opened_sid(crowded)
    refused = crowded.get(POLLING)
    assert refused.status_code == 429
    assert refused.get_json() == {"message": too_many(2)}
    assert "the limit is 2" in refused.get_json()["message"]
    # Someone else, at another address, still connects.
    assert opened_sid(from_address(app, "ben", "192.0.2.8"))
    # Closing one of the two lets the crowded address in again.
    closed = crowded.post(f"{POLLING}&sid={first}", data="1")
    assert closed.status_code == 200
    assert opened_sid(crowded)
    assert crowded.get(POLLING).status_code == 429


@pytest.mark.usefixtures("demo")
def test_requests_to_an_open_session_pass_the_gate(app: Flask) -> None:
    client = sign_in(app, "amira")
    sid = opened_sid(client)
    connect = client.post(f"{POLLING}&sid={sid}", data="40")
    assert connect.status_code == 200
    packets = client.get(f"{POLLING}&sid={sid}").get_data(as_text=True).split("\x1e")
    assert any(p.startswith("40{") for p in packets), packets  # Socket.IO accepted CONNECT
    assert any(p.startswith('42["queue"') for p in packets), packets  # and sent the queue


def test_the_cap_must_be_a_positive_number() -> None:
    from advice_line.config import ConfigurationError, settings_from_env

    with pytest.raises(ConfigurationError, match="SOCKETS_PER_ADDRESS must be at least 1"):
        settings_from_env({"ADVICE_LINE_MODE": "demo", "SOCKETS_PER_ADDRESS": "0"}, "instance")


@pytest.mark.usefixtures("demo")
def test_a_handshake_while_the_database_is_unreachable_is_refused_plainly(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from advice_line.console.gate import UNAVAILABLE

    client = sign_in(app, "amira")

    def unreachable(_user_id: str) -> None:
        raise OperationalError("SELECT", {}, ConnectionRefusedError())

    monkeypatch.setattr(app.login_manager, "_user_callback", unreachable)  # type: ignore[attr-defined]
    response = client.get(POLLING)
    assert response.status_code == 503
    assert response.get_json() == {"message": UNAVAILABLE}
