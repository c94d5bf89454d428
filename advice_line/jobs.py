"""Work that talks to the outside world, run only after the transaction that asked commits.

Domain signals fire inside a transaction; a subscriber that must emit to sockets queues a
job here instead. Calls and messages to place are outbox rows (``telephony.outbox``),
durable; their job here is only the nudge that places them at once. Jobs run after
COMMIT, never after a rollback, each in the background (a greenlet under gevent) or
inline when ``JOBS_INLINE`` is set (tests).
Jobs open their own sessions: the committing one is finished.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from advice_line.extensions import socketio

log = logging.getLogger(__name__)
Job = Callable[[], None]
_KEY = "jobs_after_commit"


def after_commit(session: Session, job: Job) -> None:
    """Run ``job`` in this app's context once ``session`` commits."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    session.info.setdefault(_KEY, []).append((app, job))


def _run(app: Flask, job: Job) -> None:
    with app.app_context():
        try:
            job()
        except Exception:
            log.exception("job after commit failed")


def _start_jobs(session: Session) -> None:
    for app, job in session.info.pop(_KEY, []):
        if app.config.get("JOBS_INLINE"):
            _run(app, job)
        else:
            socketio.start_background_task(_run, app, job)


def _drop_jobs(session: Session) -> None:
    session.info.pop(_KEY, None)


def run_after_commit() -> None:
    """Start queued jobs when a session commits; drop them when it rolls back (idempotent)."""
    for name, listener in (("after_commit", _start_jobs), ("after_rollback", _drop_jobs)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
