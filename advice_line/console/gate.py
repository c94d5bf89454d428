"""The door in front of the console's sockets: signed-in staff only, a cap per address.

python-socketio's ``connect`` handler runs at the Socket.IO CONNECT packet, after
engine.io has opened its session, so a client without a sign-in could keep an engine.io
connection open for ever by answering pings (a thousand of them once filled the only
process). This WSGI middleware stands in front of engine.io and answers an engine.io
handshake (a request to the socket path without ``sid``) itself, before any session
exists: 401 unless the Flask session belongs to someone who may open a console or the
live board, 429 when the client's address already holds ``SOCKETS_PER_ADDRESS`` engine.io
sessions on this process. The address is ``REMOTE_ADDR`` as the proxy fix (if any, wrapped
outside this middleware) left it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from flask import Flask
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from advice_line.auth.roles import CONSOLE_ROLES, MANAGER_ROLES, role_allowed

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SIGN_IN_FIRST = "Sign in to use the console."
UNAVAILABLE = "The console cannot check your sign-in just now; it will try again."
log = logging.getLogger(__name__)


def may_connect() -> bool:
    """Whether the signed-in user may hold a console socket (clinicians) or the board's."""
    if role_allowed(MANAGER_ROLES):
        return True
    return role_allowed(CONSOLE_ROLES) and current_user.clinician_id is not None


def too_many(limit: int) -> str:
    """The refusal a client gets past the per-address cap."""
    return (
        f"Too many console connections from this address (the limit is {limit}). "
        "Close consoles you no longer use, then reload."
    )


class SocketGate:
    """Refuse engine.io handshakes from anonymous clients and from crowded addresses."""

    def __init__(
        self,
        app: Flask,
        inner: WSGIApp,
        open_sessions: Callable[[], Iterable[Mapping[str, Any]]],
        path: str = "socket.io",
    ) -> None:
        self.app = app
        self.inner = inner
        self.open_sessions = open_sessions
        self.prefix = f"/{path.strip('/')}/"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Pass everything through but a handshake that must be refused."""
        if environ.get("PATH_INFO", "").startswith(self.prefix) and "sid" not in parse_qs(
            environ.get("QUERY_STRING", "")
        ):
            refusal = self._refusal(environ)
            if refusal is not None:
                status, message = refusal
                body = json.dumps({"message": message}).encode()
                start_response(
                    status,
                    [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.inner(environ, start_response)

    def _refusal(self, environ: dict[str, Any]) -> tuple[str, str] | None:
        with self.app.request_context(environ):
            try:
                allowed = may_connect()
            except SQLAlchemyError as error:
                log.warning("socket handshake refused: the database is unreachable (%s)", error)
                return "503 SERVICE UNAVAILABLE", UNAVAILABLE
            if not allowed:
                return "401 UNAUTHORIZED", SIGN_IN_FIRST
        limit = int(self.app.config["SOCKETS_PER_ADDRESS"])
        address = environ.get("REMOTE_ADDR")
        held = sum(1 for opened in self.open_sessions() if opened.get("REMOTE_ADDR") == address)
        if held >= limit:
            return "429 TOO MANY REQUESTS", too_many(limit)
        return None
