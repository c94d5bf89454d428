"""Push what changed to every console, once per committed transaction.

Domain signals mark what a transaction touched; after it commits, one job sends the new
queue to every console, the floor to senior clinicians and each affected clinician their
own view. With ``REDIS_URL`` set the emits reach consoles on every app process.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import has_app_context
from sqlalchemy.orm import Session, object_session

from advice_line.clock import utcnow
from advice_line.extensions import db, socketio
from advice_line.jobs import after_commit
from advice_line.lifecycle.supervision import told
from advice_line.models import AdviceRequest, Clinician, Message, Offer, OfferOutcome
from advice_line.routing import views
from advice_line.transaction import current_policy

_KEY = "console_changes"
CONSOLES = "consoles"
SENIORS = "seniors"
MANAGERS = "managers"
_ALERTS = "console_alerts"
_THREADS = "console_threads"


def clinician_room(clinician_id: int) -> str:
    """The room of one clinician's consoles."""
    return f"clinician:{clinician_id}"


def _touched(session: Session | None, clinician_ids: set[int]) -> None:
    if session is None or not has_app_context():
        return
    if _KEY not in session.info:
        session.info[_KEY] = set()
        after_commit(
            session,
            lambda: broadcast(session.info.pop(_KEY, set()), session.info.pop(_ALERTS, [])),
        )
    session.info[_KEY].update(clinician_ids)


def on_request(request: AdviceRequest, **_: Any) -> None:
    """A request changed: every console's queue, and its taker's own view."""
    session = object_session(request)
    accepted: set[int] = set()
    if request.accepted_at is not None:  # only then can a clinician's own view change
        accepted = {o.clinician_id for o in request.offers if o.outcome == OfferOutcome.ACCEPTED}
    _touched(session, accepted)


def on_offer(offer: Offer, **_: Any) -> None:
    """An offer changed: the clinician it was made to."""
    _touched(object_session(offer), {offer.clinician_id})


def on_clinician(clinician: Clinician, **_: Any) -> None:
    """A clinician's status changed: the floor, and their own view."""
    _touched(object_session(clinician), {clinician.id})


def request_room(request_id: int) -> str:
    """The room of the pages open on one request (its thread, live)."""
    return f"request:{request_id}"


def on_message(message: Message, **_: Any) -> None:
    """A message joined a request's thread: push the thread to its open pages."""
    session = object_session(message)
    if session is None or message.request_id is None or not has_app_context():
        return
    if _THREADS not in session.info:
        session.info[_THREADS] = set()
        after_commit(session, lambda: push_threads(session.info.pop(_THREADS, set())))
    session.info[_THREADS].add(message.request_id)


def on_conference(request: AdviceRequest, **_: Any) -> None:
    """Someone came onto or left a request's call: tell the pages open on it."""
    session = object_session(request)
    if session is not None and has_app_context():
        after_commit(session, functools.partial(push_call, request.id))


def push_call(request_id: int) -> None:
    """Send the pages open on a request what they say of a senior on its call."""
    with Session(db.engine) as session:
        body = {"request_id": request_id, "supervision": told(session, request_id)}
        socketio.emit("call", body, to=request_room(request_id))


def push_threads(request_ids: set[int]) -> None:
    """Send each request's thread to the pages open on it."""
    with Session(db.engine) as session:
        for request_id in sorted(request_ids):
            body = {"request_id": request_id, "messages": views.thread(session, request_id)}
            socketio.emit("thread", body, to=request_room(request_id))


def _on_alert(kind: str) -> Any:
    """Return a receiver that sends managers and seniors an alert of this kind."""

    def receiver(request: AdviceRequest, **_: Any) -> None:
        session = object_session(request)
        if session is not None and has_app_context():
            session.info.setdefault(_ALERTS, []).append(
                {"kind": kind, "reference": request.reference}
            )
            _touched(session, set())

    return receiver


on_senior_alert = _on_alert("escalated to senior clinicians")
on_answer_target_breached = _on_alert("past the answer target")


def broadcast(clinician_ids: set[int], alerts: list[dict[str, str]] | None = None) -> None:
    """Send the queue, the floor, the board, alerts and the affected clinicians' views."""
    with Session(db.engine) as session:
        now = utcnow()
        socketio.emit("queue", views.queue(session), to=CONSOLES)
        socketio.emit("floor", views.floor(session), to=SENIORS)
        policy = current_policy()
        socketio.emit("board", views.board(session, now, policy), to=MANAGERS)
        for alert in alerts or []:
            socketio.emit("alert", alert, to=MANAGERS)
            socketio.emit("alert", alert, to=SENIORS)
        for clinician_id in sorted(clinician_ids):
            socketio.emit(
                "mine", views.mine(session, clinician_id, now), to=clinician_room(clinician_id)
            )
