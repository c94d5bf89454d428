"""Calls and messages the line must place, stored with the change that asks for them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from advice_line.models.base import Base, str_enum


class OutboxKind(enum.StrEnum):
    """What goes out: a phone call or a message."""

    CALL = "call"
    MESSAGE = "message"


class OutboxPurpose(enum.StrEnum):
    """Why the line places it (what happens once it is placed or given up on)."""

    OFFER = "offer"  # ring a phone-only clinician with an offer (a whisper)
    CLINICIAN_IN = "clinician_in"  # ring the clinician who took a request into its conference
    OFFICER_BACK = "officer_back"  # call the officer back into the conference
    SENIOR_ALERT = "senior_alert"  # ring (or text) an on-call senior about an escalation
    REPLY = "reply"  # a message to the officer (a clinician's reply or the expected wait)
    THIRD_PARTY = "third_party"  # ring someone the holder brings into the call
    SUPERVISOR = "supervisor"  # ring a senior who listens to a call


class OutboxState(enum.StrEnum):
    """Where a row is: waiting, out at Twilio, placed, no longer wanted, or given up on."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


OPEN_STATES = (OutboxState.PENDING, OutboxState.SENDING)


class OutboxItem(Base):
    """One call or message to place, sent once by whichever process claims it."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint(
            "state <> 'sent' OR (twilio_sid IS NOT NULL AND sent_at IS NOT NULL)", name="sent_sid"
        ),
        sa.CheckConstraint(
            "state <> 'sending' OR (claimed_by IS NOT NULL AND claimed_until IS NOT NULL)",
            name="sending_claimed",
        ),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.Index(
            "ix_outbox_open_due",
            "due_at",
            sqlite_where=sa.text("state IN ('pending', 'sending')"),
            postgresql_where=sa.text("state IN ('pending', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutboxKind] = mapped_column(str_enum(OutboxKind, "outbox_kind"))
    purpose: Mapped[OutboxPurpose] = mapped_column(str_enum(OutboxPurpose, "outbox_purpose"))
    state: Mapped[OutboxState] = mapped_column(
        str_enum(OutboxState, "outbox_state"), default=OutboxState.PENDING
    )
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offer.id"))
    clinician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("clinician.id"))
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("message.id"))
    #: What Twilio is asked: ``to`` and ``url`` (a call) or ``body`` (a message).
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    claimed_by: Mapped[str | None] = mapped_column(sa.String(120))
    claimed_until: Mapped[datetime | None]
    #: When the first request that may have reached Twilio left (the reconciliation window).
    first_tried_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    twilio_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
