"""Follow-up, safeguarding and call-back tasks."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from advice_line.models.base import Base, str_enum


class TaskKind(enum.StrEnum):
    """Why someone must act."""

    FOLLOW_UP = "follow_up"
    SAFEGUARDING = "safeguarding"
    CALL_BACK = "call_back"
    DETENTION_CLOCK = "detention_clock"


class Task(Base):
    """Something a person must do by a due time."""

    __tablename__ = "task"
    __table_args__ = (sa.Index("ix_task_open_due", "done_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TaskKind] = mapped_column(str_enum(TaskKind, "task_kind"))
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    description: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: A safeguarding referral: the agency told, their reference, what came of it.
    referral_agency: Mapped[str | None] = mapped_column(sa.String(120))
    referral_reference: Mapped[str | None] = mapped_column(sa.String(60))
    referral_outcome: Mapped[str | None] = mapped_column(sa.String(500))
