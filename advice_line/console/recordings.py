"""Playing a request's recordings: who may, the audio itself, and the audit of each play.

The request's own clinicians (those who took it), senior clinicians and managers may play
a request's recordings; anyone else is refused with a page that says why. Every request
for the audio that is served is audited (``recording.played``, with the byte range asked
for); the audio is streamed from the store (``RecordingStore.play``), never read whole into
memory, and never kept by a cache on the way (``Cache-Control: no-store``).
"""

from __future__ import annotations

from flask import Response, abort, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.auth.roles import roles_required
from advice_line.console.routes import bp
from advice_line.extensions import db
from advice_line.models import Offer, Recording, RecordingStatus, Role
from advice_line.recording_store import StoreError, store
from advice_line.routing.views import TAKEN_OFFER
from advice_line.transaction import signed_in_actor, viewed

#: Recordings whose audio the line holds.
PLAYABLE = (RecordingStatus.FETCHED, RecordingStatus.DELETED_FROM_TWILIO)


def may_play(session: Session, request_id: int) -> bool:
    """Whether the signed-in user may play this request's recordings."""
    if current_user.role in (Role.SENIOR_CLINICIAN, Role.MANAGER):
        return True
    if current_user.clinician_id is None:
        return False
    took = session.scalar(
        select(Offer.id).where(
            Offer.request_id == request_id,
            Offer.clinician_id == current_user.clinician_id,
            TAKEN_OFFER,
        )
    )
    return took is not None


def playable(session: Session, request_id: int) -> list[Recording]:
    """The request's recordings the signed-in user may play, oldest first (none if not theirs)."""
    if not may_play(session, request_id):
        return []
    return list(
        session.scalars(
            select(Recording)
            .where(Recording.request_id == request_id, Recording.status.in_(PLAYABLE))
            .order_by(Recording.id)
        )
    )


@bp.get("/console/requests/<int:request_id>/recordings/<int:recording_id>.wav")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN, Role.MANAGER)
def play_recording(request_id: int, recording_id: int) -> Response:
    """A recording's audio (byte ranges served), for those who may play it; audited."""
    recording = db.session.get(Recording, recording_id)
    if recording is None or recording.request_id != request_id:
        abort(404, f"AL-{request_id} has no such recording.")
    if not may_play(db.session(), request_id):
        abort(
            403,
            f"The recordings of AL-{request_id} are for the clinicians who took it, senior "
            "clinicians and managers.",
        )
    if recording.status not in PLAYABLE or recording.storage_key is None:
        abort(404, "This recording is not held by the line (not yet fetched, or removed).")
    try:
        response = store().play(
            recording.storage_key, f"AL-{request_id}-recording-{recording.id}.wav"
        )
    except StoreError:
        abort(404, "This recording could not be found in the line's storage.")
    try:
        viewed(
            "recording.played",
            signed_in_actor(),
            request_id=request_id,
            detail={"recording_id": recording.id, "range": request.headers.get("Range", "")[:60]},
        )
    except BaseException:
        response.close()
        raise
    response.headers["Cache-Control"] = "no-store, private"
    return response
