"""Recordings of a request's conference: reported by Twilio, kept in the line's storage."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from advice_line.models.base import Base, str_enum


class RecordingStatus(enum.StrEnum):
    """Where a recording's audio is: at Twilio, in our storage as well, ours alone, gone."""

    REPORTED = "reported"  # Twilio said it is ready; not yet in our storage
    FETCHED = "fetched"  # in our storage, still at Twilio
    DELETED_FROM_TWILIO = "deleted_from_twilio"  # in our storage only: the path's end
    PURGED = "purged"  # removed from our storage by retention


#: Statuses whose audio is still to be fetched or deleted from Twilio.
TO_FETCH = (RecordingStatus.REPORTED, RecordingStatus.FETCHED)


class Recording(Base):
    """One conference recording (Twilio RecordingSid) of a request."""

    __tablename__ = "recording"
    __table_args__ = (
        sa.CheckConstraint(
            "status NOT IN ('fetched', 'deleted_from_twilio') OR storage_key IS NOT NULL",
            name="stored_key",
        ),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.Index(
            "ix_recording_to_fetch",
            "due_at",
            sqlite_where=sa.text("status IN ('reported', 'fetched')"),
            postgresql_where=sa.text("status IN ('reported', 'fetched')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    recording_sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    duration_seconds: Mapped[int]
    status: Mapped[RecordingStatus] = mapped_column(
        str_enum(RecordingStatus, "recording_status"), default=RecordingStatus.REPORTED
    )
    storage_key: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime]
    #: When the fetch (or the deletion at Twilio) is next tried.
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    stored_at: Mapped[datetime | None]
    deleted_from_twilio_at: Mapped[datetime | None]
