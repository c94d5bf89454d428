"""Durable timers: offer expiry, escalation, answer-target breach, the detention clock."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from advice_line.models.base import Base, str_enum
from advice_line.models.request import EscalationLevel


class TimerKind(enum.StrEnum):
    """What happens when the timer fires."""

    OFFER_EXPIRY = "offer_expiry"
    ESCALATION = "escalation"
    ANSWER_TARGET = "answer_target"
    DETENTION_WARNING = "detention_warning"
    DETENTION_LIMIT = "detention_limit"


class Timer(Base):
    """A moment at which the scheduler must act, fired exactly once."""

    __tablename__ = "timer"
    __table_args__ = (
        sa.Index(
            "ix_timer_due_unfired",
            "due_at",
            sqlite_where=sa.text("fired_at IS NULL"),
            postgresql_where=sa.text("fired_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TimerKind] = mapped_column(str_enum(TimerKind, "timer_kind"))
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offer.id"))
    escalation_level: Mapped[EscalationLevel | None] = mapped_column(
        str_enum(EscalationLevel, "escalation_level")
    )
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    fired_by: Mapped[str | None] = mapped_column(sa.String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))


class SchedulerTick(Base):
    """When a scheduler last finished a tick: a scheduler that stops ticking shows here."""

    __tablename__ = "scheduler_tick"

    name: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    ticked_at: Mapped[datetime]
