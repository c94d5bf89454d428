"""The signed-in session: a server-side row named by the cookie, checked on every request.

Flask-Login's user loader (``signed_in_staff``) lets a cookie in only while its
``user_session`` row is in force (``lifecycle.session_in_force``), so signing out or a
deactivation ends every copy of the cookie, and no session outlives ``SESSION_HOURS``
from sign-in or ``SESSION_IDLE_MINUTES`` unused, however often its cookie is re-sent.
Sockets opened with a session join its room and its user's room; ending the session
closes those rooms, which disconnects the sockets on every process. While a process holds
such sockets it also sweeps their sessions every ``SWEEP_SECONDS``: an open socket counts
as use, and one whose session has ended, expired or was ended where no message queue
reached this process is disconnected even if it never sends an event.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, g, request, session
from flask_login import login_user, logout_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.auth.roles import Staff
from advice_line.clock import utcnow
from advice_line.console.message_queue import session_room, user_room
from advice_line.extensions import db, socketio
from advice_line.transaction import Work, run

#: Where the signed cookie keeps the session's id.
SESSION_ID = "session_id"
#: How often a process checks the sessions of its open sockets.
SWEEP_SECONDS = 30
_SWEEPING = "session_sweep"
log = logging.getLogger(__name__)


def rules() -> lifecycle.SessionRules:
    """This app's session limits."""
    return lifecycle.SessionRules(
        lifetime=current_app.config["PERMANENT_SESSION_LIFETIME"],
        idle=timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"]),
    )


def signed_in_staff(user_id: str) -> Staff | None:
    """Flask-Login's user loader: the staff member, if the cookie's session is in force."""
    session_id = session.get(SESSION_ID)
    if not isinstance(session_id, str) or not user_id.isdigit():
        return None
    # Its own short transaction: the request's session may be part-way through a change.
    with Session(db.engine) as own:
        in_force = lifecycle.session_in_force(
            own, session_id, int(user_id), now=utcnow(), rules=rules()
        )
        own.commit()
    return Staff.load(user_id, session_id) if in_force else None


def sign_in(staff: Staff) -> None:
    """Start a new session for ``staff`` (a fresh cookie: nothing of the old one is kept)."""

    def start(work: Work) -> str:
        session_id = lifecycle.start_session(work.session, staff.id, now=work.now)
        record_event(work.session, work.actor, "auth.signed_in", now=work.now)
        return session_id

    session_id = run(start, Actor("user", staff.id, request.remote_addr))
    session.clear()
    session.permanent = True
    session[SESSION_ID] = session_id
    login_user(replace(staff, session_id=session_id))
    # The new session's CSRF token now (not the one the sign-in form was given), so no later
    # page changes the session and re-issues the cookie.
    g.pop(current_app.config["WTF_CSRF_FIELD_NAME"], None)
    generate_csrf()


def sign_out(staff: Staff) -> None:
    """End this session: every copy of its cookie, and its open sockets."""
    session_id = staff.session_id
    if session_id is not None:
        run(
            lambda work: lifecycle.end_session(work.session, session_id, now=work.now),
            Actor("user", staff.id, request.remote_addr),
        )
        end_sockets(session_room(session_id))
    logout_user()
    session.clear()


def end_sockets(room: str) -> None:
    """Disconnect the sockets of a session's or user's room, on every process."""
    socketio.close_room(room)


def end_users_sockets(user_id: int) -> None:
    """Disconnect every socket of a staff member (after a deactivation is committed)."""
    end_sockets(user_room(user_id))


def sweep(server: Any) -> list[str]:
    """Disconnect this process's sockets whose session is no longer in force; return those."""
    rooms = list(server.manager.rooms.get("/", {}))
    held = [room.removeprefix("session:") for room in rooms if str(room).startswith("session:")]
    if not held:
        return []
    with Session(db.engine) as own:
        in_force = lifecycle.sessions_in_force(own, held, now=utcnow(), rules=rules())
        own.commit()
    ended = [session_id for session_id in held if session_id not in in_force]
    for session_id in ended:
        server.close_room(session_room(session_id))
    return ended


def watch_sockets() -> None:
    """Sweep this process's sockets' sessions while it holds any (started on connect).

    Not in tests, whose apps come and go within a second: they call ``sweep`` directly.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.testing or app.extensions.get(_SWEEPING):
        return
    app.extensions[_SWEEPING] = True
    socketio.start_background_task(_sweep_while_held, app, socketio.server)


def _holds_sessions(server: Any) -> bool:
    return any(str(room).startswith("session:") for room in list(server.manager.rooms.get("/", {})))


def _sweep_while_held(app: Flask, server: Any) -> None:
    try:
        while True:
            socketio.sleep(SWEEP_SECONDS)
            if not _holds_sessions(server):
                return
            with app.app_context():
                try:
                    sweep(server)
                except SQLAlchemyError as error:
                    log.warning(
                        "Could not check the sessions of open consoles (%s); trying again in %d s",
                        type(error).__name__,
                        SWEEP_SECONDS,
                    )
    finally:
        app.extensions[_SWEEPING] = False
