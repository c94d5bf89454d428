"""Socket events of the clinician console: presence, heartbeat, the browser phone, offers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import request
from flask_login import current_user
from flask_socketio import disconnect as end_this_socket
from flask_socketio import emit, join_room

from advice_line import lifecycle, metrics
from advice_line.audit import Actor
from advice_line.auth import sessions
from advice_line.auth.roles import CONSOLE_ROLES, MANAGER_ROLES, SENIOR_ROLES, role_allowed
from advice_line.clock import utcnow
from advice_line.console.live import CONSOLES, MANAGERS, SENIORS, clinician_room, request_room
from advice_line.console.message_queue import session_room, user_room
from advice_line.console.payloads import checked
from advice_line.extensions import db, socketio
from advice_line.inputs import MAX_ID
from advice_line.lifecycle.errors import DomainError
from advice_line.models import AdviceRequest, Channel, ClinicianStatus
from advice_line.routing import views
from advice_line.transaction import Work, current_policy, run

Ack = dict[str, Any]
log = logging.getLogger(__name__)
SESSION_ENDED = "Your session has ended: sign in again."
#: When each socket of this process last said its browser can take calls, by socket id.
_PHONE_READY_AT: dict[str, datetime] = {}


def _actor() -> Actor:
    return Actor("user", current_user.id, "console")


def _clinician_id() -> int:
    if not role_allowed(CONSOLE_ROLES) or current_user.clinician_id is None:
        raise PermissionError
    return int(current_user.clinician_id)


def _number(data: Any, name: str) -> int:
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise ValueError(f"{name} must be a positive whole number")
    return value


def _refused(error: DomainError) -> Ack:
    return {"error": str(error)}


def _run(step: Callable[[Work, int], object]) -> Ack:
    """Run one domain step for the signed-in clinician; answer ok or a plain error.

    Every event loads the user through the session again: a socket whose session has
    ended (signed out, deactivated, expired, idle) is refused and disconnected.
    """
    if not current_user.is_authenticated:
        end_this_socket()
        return {"error": SESSION_ENDED, "status": 401}
    try:
        me = _clinician_id()
    except PermissionError:
        return {"error": "Only clinicians at a console can do that.", "status": 403}

    def done(work: Work) -> Ack:
        step(work, me)
        return {"ok": True}

    return run(done, _actor(), _refused)


@socketio.on_error_default
def failed(_error: Exception) -> Ack:
    """Answer an event that failed unexpectedly with a plain error, keeping nothing of it."""
    log.exception("socket event failed")
    db.session.rollback()
    return {"error": "That could not be done.", "status": 500}


def _join_session_rooms() -> None:
    join_room(session_room(current_user.session_id))
    join_room(user_room(current_user.id))
    sessions.watch_sockets()


@socketio.on("connect")
def connect(_auth: Any = None) -> bool:
    """Clinicians join their console, managers the live board; nobody else connects.

    Each socket also joins its session's and its user's rooms, which signing out or a
    deactivation closes (``auth.sessions``), disconnecting it on whichever process holds it.
    """
    if role_allowed(MANAGER_ROLES):
        _join_session_rooms()
        join_room(MANAGERS)
        emit("board", views.board(db.session(), utcnow(), current_policy()))
        metrics.console_connected()
        return True
    if not role_allowed(CONSOLE_ROLES) or current_user.clinician_id is None:
        return False
    clinician_id = int(current_user.clinician_id)
    _join_session_rooms()
    join_room(CONSOLES)
    join_room(clinician_room(clinician_id))
    run(lambda work: lifecycle.console_seen(work.session, clinician_id, now=work.now), _actor())
    emit("queue", views.queue(db.session()))
    emit("mine", views.mine(db.session(), clinician_id, utcnow()))
    if role_allowed(SENIOR_ROLES):
        join_room(SENIORS)
        emit("floor", views.floor(db.session()))
    metrics.console_connected()
    return True


@socketio.on("disconnect")
def disconnect(_reason: Any = None) -> None:
    """A connection this process accepted has closed (presence follows the heartbeat).

    A page whose browser took calls no longer does, unless another page said so since.
    """
    metrics.console_disconnected()
    said_at = _PHONE_READY_AT.pop(request.sid, None)  # type: ignore[attr-defined]
    if said_at is not None and current_user.is_authenticated:
        _run(
            lambda work, me: lifecycle.set_browser_phone(
                work.session,
                me,
                ready=False,
                now=work.now,
                actor=work.actor,
                policy=work.policy,
                unless_said_since=said_at,
            )
        )


@socketio.on("phone")
@checked
def phone(data: Any) -> Ack:
    """This page's browser can take calls (repeated with the heartbeat), or no longer can."""
    ready = data.get("ready") if isinstance(data, dict) else None
    if not isinstance(ready, bool):
        return {"error": "ready must be true or false"}

    def said(work: Work, me: int) -> None:
        lifecycle.set_browser_phone(
            work.session, me, ready=ready, now=work.now, actor=work.actor, policy=work.policy
        )
        if ready:
            _PHONE_READY_AT[request.sid] = work.now  # type: ignore[attr-defined]
        else:
            _PHONE_READY_AT.pop(request.sid, None)  # type: ignore[attr-defined]

    return _run(said)


@socketio.on("heartbeat")
@checked
def heartbeat(_data: Any = None) -> Ack:
    """The console is still open."""
    return _run(lambda work, me: lifecycle.console_seen(work.session, me, now=work.now))


@socketio.on("set_status")
@checked
def set_status(data: Any) -> Ack:
    """Available, away or offline."""
    wanted = data.get("status") if isinstance(data, dict) else None
    if not isinstance(wanted, str) or wanted not in {s.value for s in lifecycle.MANUAL_STATUSES}:
        return {"error": "status must be available, away or offline"}
    return _run(
        lambda work, me: lifecycle.set_clinician_status(
            work.session,
            me,
            ClinicianStatus(wanted),
            now=work.now,
            actor=work.actor,
            policy=work.policy,
        )
    )


def _accept(work: Work, me: int, request_id: int) -> None:
    lifecycle.take(work.session, request_id, me, now=work.now, actor=work.actor, policy=work.policy)
    advice = work.session.get_one(AdviceRequest, request_id)
    if advice.channel != Channel.VOICE and advice.call_back_requested_at is None:
        lifecycle.connect(work.session, request_id, now=work.now, actor=work.actor)


@socketio.on("accept")
@checked
def accept(data: Any) -> Ack:
    """Take a request: one's own offer, or one from the queue."""
    try:
        request_id = _number(data, "request_id")
    except ValueError as refused:
        return {"error": str(refused)}
    return _run(lambda work, me: _accept(work, me, request_id))


@socketio.on("decline")
@checked
def decline(data: Any) -> Ack:
    """Decline one's own offer; it goes to the next clinician."""
    try:
        offer_id = _number(data, "offer_id")
    except ValueError as refused:
        return {"error": str(refused)}
    return _run(
        lambda work, me: lifecycle.decline_offer(
            work.session, offer_id, me, now=work.now, actor=work.actor
        )
    )


@socketio.on("watch_request")
@checked
def watch_request(data: Any) -> Ack:
    """Follow a request's thread live, if this user may open the request."""
    if not current_user.is_authenticated:
        end_this_socket()
        return {"error": SESSION_ENDED, "status": 401}
    try:
        request_id = _number(data, "request_id")
    except ValueError as refused:
        return {"error": str(refused)}
    if not role_allowed(CONSOLE_ROLES) or not views.may_open(
        db.session(),
        request_id,
        user_id=current_user.id,
        role=current_user.role,
        clinician_id=current_user.clinician_id,
    ):
        return {"error": "You may not open that request.", "status": 403}
    join_room(request_room(request_id))
    return {"ok": True, "messages": views.thread(db.session(), request_id)}
