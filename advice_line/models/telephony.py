"""Call legs and messages exchanged with Twilio."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from advice_line.models.base import Base, str_enum


class LegRole(enum.StrEnum):
    """Whose phone a call leg connects."""

    OFFICER = "officer"
    CLINICIAN = "clinician"
    THIRD_PARTY = "third_party"  # someone the holder brought into the call
    SUPERVISOR = "supervisor"  # a senior listening to, coaching or joining the call


class Supervision(enum.StrEnum):
    """What a senior on a call does: listen unheard, coach the clinician, or join in."""

    LISTEN = "listen"
    COACH = "coach"
    JOIN = "join"


class CallStatus(enum.StrEnum):
    """Twilio's call statuses, in the order a call moves through them."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


ENDED_CALL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
    }
)


class CallLeg(Base):
    """One phone call (Twilio CallSid) belonging to a request."""

    __tablename__ = "call_leg"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    role: Mapped[LegRole] = mapped_column(str_enum(LegRole, "leg_role"))
    clinician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clinician.id"))
    offer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offer.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus, "call_status"))
    last_sequence: Mapped[int] = mapped_column(default=-1)
    joined_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    #: A third party: who they are (a clinician's name or a directory entry's).
    label: Mapped[str | None] = mapped_column(sa.String(80))
    #: A third party heard by the clinician only, while the officer is on hold.
    private: Mapped[bool] = mapped_column(server_default=sa.false())
    #: A senior's call: listening, coaching the clinician or joined.
    supervision: Mapped[Supervision | None] = mapped_column(str_enum(Supervision, "supervision"))


class MessageDirection(enum.StrEnum):
    """Whether the line received or sent a message."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Message(Base):
    """An SMS or WhatsApp message in a request's thread."""

    __tablename__ = "message"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    direction: Mapped[MessageDirection] = mapped_column(
        str_enum(MessageDirection, "message_direction")
    )
    message_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    counterpart: Mapped[str] = mapped_column(sa.String(60))
    body: Mapped[str] = mapped_column(sa.String(1600))
    reply: Mapped[str | None] = mapped_column(sa.String(1600))
    clinician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clinician.id"))
    delivery: Mapped[str] = mapped_column(sa.String(40), default="received")
    error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime]
