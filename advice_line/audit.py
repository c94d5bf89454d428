"""Writing to the append-only audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from advice_line.models.audit import AuditEvent


class AuditLogIsAppendOnly(RuntimeError):
    """Something tried to change or delete an audit event."""


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a staff user, the officer, Twilio, or the system itself."""

    kind: str
    user_id: int | None = None
    source: str | None = None


SYSTEM = Actor("system")


def record_event(
    session: Session,
    actor: Actor,
    action: str,
    *,
    now: datetime,
    request_id: int | None = None,
    subject: tuple[str, int] | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event to the session."""
    subject_type, subject_id = subject if subject else (None, None)
    audit_event = AuditEvent(
        occurred_at=now,
        actor_kind=actor.kind,
        actor_user_id=actor.user_id,
        source=actor.source,
        action=action,
        request_id=request_id,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
    )
    session.add(audit_event)
    return audit_event


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: object, _instances: object) -> None:
    """Refuse to flush any update or delete of an audit event."""
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, AuditEvent) and (
            instance in session.deleted or session.is_modified(instance)
        ):
            raise AuditLogIsAppendOnly("audit events cannot be changed or deleted")
