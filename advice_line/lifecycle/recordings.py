"""A request's conference recordings: reported by the phone network, stored, deleted there.

Each step is idempotent by the RecordingSid (a repeated or late report changes nothing)
and audited. Playback is audited at the edge as a view (``recording.played``).
See docs/DOMAIN.md#recordings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import InvalidInput
from advice_line.models import AdviceRequest, Recording, RecordingStatus

#: Longer than any call: a reported duration past this is not a recording of ours.
LONGEST_SECONDS = 24 * 3600
#: The moves after the report: from, to, and the audit action.
STORED = (RecordingStatus.REPORTED, RecordingStatus.FETCHED, "recording.stored")
DELETED_FROM_TWILIO = (
    RecordingStatus.FETCHED,
    RecordingStatus.DELETED_FROM_TWILIO,
    "recording.deleted_from_twilio",
)


def recording_reported(
    session: Session,
    request_id: int,
    recording_sid: str,
    *,
    duration_seconds: int,
    now: datetime,
    actor: Actor,
) -> Recording | None:
    """Note a finished recording of the request's conference; None if already noted."""
    if session.get(AdviceRequest, request_id) is None:
        raise InvalidInput({"request": f"There is no request AL-{request_id}."})
    if not 0 <= duration_seconds <= LONGEST_SECONDS:
        raise InvalidInput({"duration": "The recording's duration is not a call's."})
    known = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
    if known is not None:
        return None
    recording = Recording(
        request_id=request_id,
        recording_sid=recording_sid,
        duration_seconds=duration_seconds,
        status=RecordingStatus.REPORTED,
        created_at=now,
        due_at=now,
        attempts=0,
    )
    session.add(recording)
    record_event(
        session,
        actor,
        "recording.reported",
        now=now,
        request_id=request_id,
        detail={"recording_sid": recording_sid, "duration_seconds": duration_seconds},
    )
    session.flush()
    return recording


def _move(
    session: Session,
    recording_id: int,
    step: tuple[RecordingStatus, RecordingStatus, str],
    *,
    now: datetime,
    actor: Actor,
) -> Recording | None:
    """Move a recording on (from, to, the audit action); None if it is not at ``from``."""
    frm, to, action = step
    recording = session.get_one(Recording, recording_id, with_for_update=True)
    if recording.status != frm:
        return None
    recording.status = to
    record_event(
        session,
        actor,
        action,
        now=now,
        request_id=recording.request_id,
        subject=("recording", recording.id),
    )
    return recording


def recording_stored(
    session: Session, recording_id: int, storage_key: str, *, now: datetime, actor: Actor
) -> bool:
    """The audio is in the line's storage under ``storage_key``; False if already noted."""
    recording = _move(session, recording_id, STORED, now=now, actor=actor)
    if recording is None:
        return False
    recording.storage_key, recording.stored_at = storage_key, now
    session.flush()
    return True


def recording_deleted_from_twilio(
    session: Session, recording_id: int, *, now: datetime, actor: Actor
) -> bool:
    """Twilio no longer holds the audio: only the line's copy is left; False if noted."""
    recording = _move(session, recording_id, DELETED_FROM_TWILIO, now=now, actor=actor)
    if recording is None:
        return False
    recording.deleted_from_twilio_at = now
    session.flush()
    return True
