"""Writing to the append-only audit log."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, bindparam, event, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from advice_line.models.audit import (
    PSEUDONYMISE_FUNCTION,
    PSEUDONYMISED_SOURCE,
    RETENTION_FUNCTION,
    RETENTION_SETTING,
    AuditEvent,
)

#: A Twilio SID (a CallSid "CA…", a MessageSid "SM…" or "MM…"): two capital letters and
#: 32 hex digits; the triggers' pattern, and the same found inside a detail's text.
TWILIO_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
TWILIO_SID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}[0-9a-fA-F]{32}(?![0-9A-Za-z])")


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


def _pseudonymise_in_window(session: Session, changes: list[dict[str, Any]]) -> None:
    """Apply retention's changes (``id``, ``detail``, ``source``) in its window.

    On PostgreSQL through the owner's ``audit_event_pseudonymise`` (the app's own role may
    not execute it: retention runs as the owner); on SQLite under a connection flag the
    triggers ask for, cleared on the way out.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        argument = bindparam("changes", changes, type_=JSONB)
        connection.execute(select(getattr(func, PSEUDONYMISE_FUNCTION)(argument)))
        return
    connection.info[RETENTION_SETTING] = True
    try:
        connection.execute(
            update(AuditEvent)
            .where(AuditEvent.id == bindparam("event_id"))
            .values(detail=bindparam("kept", type_=JSON), source=bindparam("new_source")),
            [
                {"event_id": c["id"], "kept": c["detail"], "new_source": c["source"]}
                for c in changes
            ],
        )
    finally:
        connection.info.pop(RETENTION_SETTING, None)


def _holds_twilio_sid(value: object) -> bool:
    """Whether a detail value (or a key or value anywhere inside it) holds a Twilio SID."""
    if isinstance(value, str):
        return TWILIO_SID_IN_TEXT.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_twilio_sid(k) or _holds_twilio_sid(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_twilio_sid(item) for item in value)
    return False


def pseudonymise_events(
    session: Session,
    request_ids: Collection[int],
    keys: Mapping[str, Collection[str]],
    *,
    twilio_sids: Collection[str] = (),
) -> int:
    """Pseudonymise these requests' audit events; return how many changed.

    From the requests' events ``keys[action]`` and every top-level detail key holding a
    Twilio SID go, and a source that is a Twilio SID becomes ``PSEUDONYMISED_SOURCE``.
    An event one of ``twilio_sids`` caused for something else (a clinician's status as a
    call ends has no request id) loses that source, and keeps its details. That is what
    the triggers allow, and no more.
    """
    columns = (
        AuditEvent.id,
        AuditEvent.request_id,
        AuditEvent.action,
        AuditEvent.source,
        AuditEvent.detail,
    )
    rows = {
        row.id: row
        for row in session.execute(select(*columns).where(AuditEvent.request_id.in_(request_ids)))
    }
    sids = sorted(set(twilio_sids))
    for start in range(0, len(sids), 500):
        chunk = sids[start : start + 500]
        rows |= {
            row.id: row
            for row in session.execute(select(*columns).where(AuditEvent.source.in_(chunk)))
        }
    ours = set(request_ids)
    changes: list[dict[str, Any]] = []
    for event_id, request_id, action, source, detail in rows.values():
        kept = (
            {
                key: value
                for key, value in detail.items()
                if key not in keys.get(action, ()) and not _holds_twilio_sid({key: value})
            }
            if request_id in ours
            else detail
        )
        new_source = PSEUDONYMISED_SOURCE if source and TWILIO_SID.fullmatch(source) else source
        if kept != detail or new_source != source:
            changes.append({"id": event_id, "detail": kept, "source": new_source})
    if changes:
        _pseudonymise_in_window(session, changes)
    return len(changes)
