"""Writing to the append-only audit log."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, bindparam, event, func, select, update
from sqlalchemy.orm import Session

from advice_line.models.audit import RETENTION_FUNCTION, RETENTION_SETTING, AuditEvent


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


def record_view(
    session: Session,
    actor: Actor,
    what: str,
    *,
    now: datetime,
    request_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append that ``actor`` saw personal data: ``what`` is the action, such as
    ``request.viewed`` or ``report.requests_exported``; ``detail`` says which filter and
    how many rows (Caldicott: be able to show who saw what)."""
    return record_event(
        session,
        actor,
        what,
        now=now,
        request_id=request_id,
        subject=("advice_request", request_id) if request_id is not None else None,
        detail=detail,
    )


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: object, _instances: object) -> None:
    """Refuse to flush any update or delete of an audit event."""
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, AuditEvent) and (
            instance in session.deleted or session.is_modified(instance)
        ):
            raise AuditLogIsAppendOnly("audit events cannot be changed or deleted")


def register_sqlite_functions(connection: sqlite3.Connection, info: dict[Any, Any]) -> None:
    """Give a SQLite connection the function its audit triggers ask for a retention window."""
    connection.create_function(
        RETENTION_FUNCTION, 0, lambda: int(bool(info.get(RETENTION_SETTING)))
    )


@contextmanager
def pseudonymisation_window(session: Session) -> Iterator[Connection]:
    """Let statements inside remove keys from audit details, and change nothing else.

    On PostgreSQL the window is a transaction-local setting, so it closes with the
    transaction at the latest; on SQLite a flag on the connection, cleared on the way out.
    """
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        connection.execute(select(func.set_config(RETENTION_SETTING, "on", True)))
    connection.info[RETENTION_SETTING] = True
    try:
        yield connection
    finally:
        connection.info.pop(RETENTION_SETTING, None)
    if postgresql:
        connection.execute(select(func.set_config(RETENTION_SETTING, "off", True)))


def remove_detail_keys(
    session: Session, request_ids: Collection[int], keys: Mapping[str, Collection[str]]
) -> int:
    """Remove ``keys[action]`` from these requests' audit details; return the events changed."""
    rows = session.execute(
        select(AuditEvent.id, AuditEvent.action, AuditEvent.detail).where(
            AuditEvent.request_id.in_(request_ids), AuditEvent.action.in_(keys)
        )
    ).all()
    changes = [
        {"event_id": event_id, "kept": {k: v for k, v in detail.items() if k not in keys[action]}}
        for event_id, action, detail in rows
        if any(key in detail for key in keys[action])
    ]
    if changes:
        with pseudonymisation_window(session) as connection:
            connection.execute(
                update(AuditEvent)
                .where(AuditEvent.id == bindparam("event_id"))
                .values(detail=bindparam("kept", type_=JSON)),
                changes,
            )
    return len(changes)
