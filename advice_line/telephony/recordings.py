"""Recordings: the conference's recording attributes, and bringing the audio home.

When ``CALL_RECORDING`` is on, each join to a request's conference asks Twilio to record
it from the start and report the finished recording (``recording_url``). The report
(``report``, from the signed webhook) writes a ``recording`` row in its transaction and
nudges ``fetch`` after the commit; the scheduler's duty ``fetch_due`` retries what a nudge
did not finish. Fetching is idempotent by RecordingSid, in short steps, no transaction
held over the network:

1. Claim the row: due, not given up, still to fetch or to delete at Twilio; its ``due_at``
   moves a lease ahead, so one process works on it at a time and a dead one's is retaken.
2. If not yet stored: GET the audio from Twilio, put it in the store (the same key each
   time, so a repeat overwrites), then note it stored (``lifecycle.recording_stored``).
3. DELETE it at Twilio (a 404 is already done), then note that.
An error is retried with backoff; a refusal Twilio will repeat (the recording is unknown)
is given up on at once, logged and left visible (``attempts`` at the limit, ``last_error``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.jobs import after_commit
from advice_line.models import TO_FETCH, AdviceRequest, Recording, RecordingStatus
from advice_line.recording_store import StoreError, key_for, store
from advice_line.telephony.gateway import gateway
from advice_line.telephony.outbox import NUDGE_GRACE, retry_delay
from advice_line.telephony.protocol import GatewayError
from advice_line.telephony.urls import webhook_url

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10
LEASE = timedelta(seconds=60)
ACTOR = Actor("system", source="recordings")


def recording_url(advice: AdviceRequest) -> str | None:
    """Where Twilio reports the request's finished recording; None if the line records none."""
    if not current_app.config["CALL_RECORDING"]:
        return None
    return webhook_url("twilio.recording_status", request_id=advice.id)


def report(
    session: Session,
    request_id: int,
    recording_sid: str,
    *,
    duration_seconds: int,
    now: datetime,
    actor: Actor,
) -> None:
    """Note a finished recording (once per RecordingSid) and fetch it after the commit."""
    made = lifecycle.recording_reported(
        session, request_id, recording_sid, duration_seconds=duration_seconds, now=now, actor=actor
    )
    if made is not None:
        after_commit(session, functools.partial(nudge, made.id))


def nudge(recording_id: int) -> None:
    """Fetch a recording just reported (the scheduler retries it if this does not)."""
    fetch(recording_id)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Recording.status.in_(TO_FETCH),
        Recording.due_at <= now,
        Recording.attempts < MAX_ATTEMPTS,
    )


def fetch_due(now: datetime | None = None, limit: int = 20) -> int:
    """Fetch (or finish deleting at Twilio) every recording due; return how many are done.

    A recording just reported is left to its nudge for ``NUDGE_GRACE``."""
    now = now or utcnow()
    with Session(db.engine) as session:
        due = session.scalars(
            select(Recording.id)
            .where(
                _due(now),
                or_(Recording.attempts > 0, Recording.created_at <= now - NUDGE_GRACE),
            )
            .order_by(Recording.due_at, Recording.id)
            .limit(limit)
        ).all()
    return sum(fetch(recording_id, now=now) for recording_id in due)


def _claim(recording_id: int, now: datetime) -> Recording | None:
    with Session(db.engine, expire_on_commit=False) as session, session.begin():
        won = session.execute(  # type: ignore[attr-defined]
            update(Recording)
            .where(Recording.id == recording_id, _due(now))
            .values(due_at=now + LEASE, attempts=Recording.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        return session.get_one(Recording, recording_id) if won == 1 else None


def fetch(recording_id: int, *, now: datetime | None = None) -> bool:
    """Bring one recording into the store and delete it at Twilio; return whether done."""
    now = now or utcnow()
    claimed = _claim(recording_id, now)
    if claimed is None:
        return False
    key = key_for(claimed.request_id, claimed.recording_sid)
    try:
        if claimed.status == RecordingStatus.REPORTED:
            store().put(key, gateway().recording_audio(claimed.recording_sid))
            _note(lambda s: lifecycle.recording_stored(s, recording_id, key, now=now, actor=ACTOR))
        gateway().delete_recording(claimed.recording_sid)
        _note(
            lambda s: lifecycle.recording_deleted_from_twilio(s, recording_id, now=now, actor=ACTOR)
        )
    except (GatewayError, StoreError) as error:
        _failed(recording_id, error, now)
        return False
    return True


def _note(step: Callable[[Session], bool]) -> None:
    """Run one lifecycle step in its own short transaction."""
    with Session(db.engine) as session, session.begin():
        step(session)


def _failed(recording_id: int, error: GatewayError | StoreError, now: datetime) -> None:
    retryable = isinstance(error, StoreError) or error.retryable
    with Session(db.engine) as session, session.begin():
        recording = session.get_one(Recording, recording_id, with_for_update=True)
        recording.last_error = str(error)[:500]
        if retryable and recording.attempts < MAX_ATTEMPTS:
            recording.due_at = now + retry_delay(recording.attempts)
            log.warning(
                "recording %s failed (attempt %s); retrying", recording_id, recording.attempts
            )
            return
        recording.attempts = MAX_ATTEMPTS
        log.error("recording %s given up: %s", recording_id, recording.last_error)
