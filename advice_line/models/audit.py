"""The append-only audit log, enforced by the database as well as the ORM.

Triggers refuse every UPDATE and DELETE of ``audit_event`` (and TRUNCATE on PostgreSQL;
on SQLite an INSERT that would replace a row), whoever sends them. One narrow exception
serves retention: inside its pseudonymisation window an UPDATE may remove keys from
``detail`` and replace a ``source`` that is a Twilio SID (a CallSid or MessageSid) with
'pseudonymised', and change nothing else.

On PostgreSQL the window is the function ``audit_event_pseudonymise(changes)``: it turns
``advice_line.retention`` on only while its UPDATE runs, and the triggers honour
the setting only for a role with the privileges of the table's owner, so a session that
sets it itself gains nothing. Only the owner may execute the function (EXECUTE is revoked
from PUBLIC), and the app connects as a role that owns nothing (README, "Database
roles"). On SQLite the window is the connection function ``advice_line_retention()``
that only the app registers. The same SQL is in the migrations that added and changed it
(migrations keep their own copy, as history).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from advice_line.models.base import Base

RETENTION_SETTING = "advice_line.retention"
RETENTION_FUNCTION = "advice_line_retention"
#: PostgreSQL's pseudonymisation window: the owner's function that applies the changes.
PSEUDONYMISE_FUNCTION = "audit_event_pseudonymise"
#: What retention leaves as the source of an event a Twilio SID caused (the triggers'
#: literal 'pseudonymised'; the only sources they let it replace are Twilio SIDs).
PSEUDONYMISED_SOURCE = "pseudonymised"


class AuditEvent(Base):
    """Who did or viewed what, when and from where. Never updated or deleted."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor_kind: Mapped[str] = mapped_column(sa.String(20))
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    source: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    action: Mapped[str] = mapped_column(sa.String(60))
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    subject_type: Mapped[str | None] = mapped_column(sa.String(40))
    subject_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


POSTGRESQL_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('advice_line.retention', true) = 'on'
        AND pg_catalog.pg_has_role(
            current_user,
            (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID),
            'USAGE')
    THEN
        IF to_jsonb(NEW) - 'detail' - 'source' = to_jsonb(OLD) - 'detail' - 'source'
            AND (NEW.source IS NOT DISTINCT FROM OLD.source
                 OR (NEW.source = 'pseudonymised' AND OLD.source ~ '^[A-Z]{2}[0-9a-fA-F]{32}$'))
            AND jsonb_typeof(NEW.detail::jsonb) = 'object'
            AND NEW.detail::jsonb <@ OLD.detail::jsonb
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP;
END
$$
"""


def postgresql_append_only(schema: str) -> tuple[str, ...]:
    """PostgreSQL's triggers and pseudonymisation function, for the schema they live in.

    The function's search path is pinned to that schema; it runs as its caller
    (SECURITY INVOKER), so even a role later granted EXECUTE by mistake would be refused
    by the triggers unless it has the owner's privileges.
    """
    quoted = '"' + schema.replace('"', '""') + '"'
    return (
        POSTGRESQL_TRIGGER_FUNCTION,
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
        f"""
CREATE FUNCTION audit_event_pseudonymise(changes jsonb) RETURNS integer
LANGUAGE plpgsql
SET search_path = {quoted}, pg_temp
AS $$
DECLARE
    changed integer;
BEGIN
    PERFORM set_config('advice_line.retention', 'on', true);
    UPDATE audit_event AS event
    SET detail = change.detail::json, source = change.source
    FROM jsonb_to_recordset(changes) AS change(id integer, detail jsonb, source text)
    WHERE event.id = change.id;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('advice_line.retention', 'off', true);
    RETURN changed;
END
$$
""",  # noqa: S608 - the schema is quoted as an identifier above
        "REVOKE ALL ON FUNCTION audit_event_pseudonymise(jsonb) FROM PUBLIC",
    )


SQLITE_APPEND_ONLY = (
    """
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
WHEN NOT coalesce((
    advice_line_retention()
    AND (NEW.id, NEW.occurred_at, NEW.actor_kind, NEW.actor_user_id, NEW.action,
         NEW.request_id, NEW.subject_type, NEW.subject_id)
     IS (OLD.id, OLD.occurred_at, OLD.actor_kind, OLD.actor_user_id, OLD.action,
         OLD.request_id, OLD.subject_type, OLD.subject_id)
    AND (NEW.source IS OLD.source
         OR (NEW.source IS 'pseudonymised' AND OLD.source IS NOT NULL
             AND length(OLD.source) = 34
             AND substr(OLD.source, 1, 2) GLOB '[A-Z][A-Z]'
             AND NOT substr(OLD.source, 3) GLOB '*[^0-9a-fA-F]*'))
    AND json_type(NEW.detail) = 'object'
    AND NOT EXISTS (
        SELECT 1 FROM json_each(NEW.detail) AS kept
        WHERE NOT EXISTS (
            SELECT 1 FROM json_each(OLD.detail) AS was
            WHERE was.key = kept.key AND was.type = kept.type AND was.value IS kept.value
        )
    )
), 0)
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END
""",
    """
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END
""",
    # INSERT OR REPLACE deletes the row it collides with without firing DELETE triggers.
    """
CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
WHEN EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: REPLACE refused'); END
""",
)


def append_only(connection: sa.Connection) -> tuple[str, ...]:
    """The statements that make ``audit_event`` append-only on this connection's database."""
    if connection.dialect.name == "postgresql":
        return postgresql_append_only(connection.scalar(sa.text("SELECT current_schema()")))
    if connection.dialect.name == "sqlite":
        return SQLITE_APPEND_ONLY
    raise NotImplementedError(f"no audit triggers for {connection.dialect.name}")


@sa.event.listens_for(AuditEvent.__table__, "after_create")
def _create_triggers(_table: sa.Table, connection: sa.Connection, **_: Any) -> None:
    """Create the append-only triggers with the table (``create_all``: tests, benchmarks)."""
    for statement in append_only(connection):
        connection.execute(sa.text(statement))


@sa.event.listens_for(AuditEvent.__table__, "after_drop")
def _drop_trigger_function(_table: sa.Table, connection: sa.Connection, **_: Any) -> None:
    """Drop PostgreSQL's functions with the table (the triggers go with it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("DROP FUNCTION IF EXISTS audit_event_pseudonymise(jsonb)"))
        connection.execute(sa.text("DROP FUNCTION IF EXISTS audit_event_append_only()"))
