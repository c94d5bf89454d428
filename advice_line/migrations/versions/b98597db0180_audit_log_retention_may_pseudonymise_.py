"""audit log: retention may pseudonymise Twilio SIDs as the source; index the source

Inside the pseudonymisation window an UPDATE may now also replace an event's ``source``
with 'pseudonymised' when it is a Twilio SID (two capital letters, 32 hex digits: a
CallSid or MessageSid), and only then; everything else stays as before (only keys
removed from ``detail``). SQLite's condition now refuses when it comes out NULL (a NULL
source) instead of letting the update through. The source is indexed so retention finds the events a request's
call and message SIDs caused (a clinician's status, with no request id) without scanning
the log. Downgrading restores the earlier triggers and drops the index.

Revision ID: b98597db0180
Revises: 1359beec0ab5
Create Date: 2026-11-29 17:17:30.228327

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b98597db0180'
down_revision = '1359beec0ab5'
branch_labels = None
depends_on = None

POSTGRESQL_BEFORE = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('advice_line.retention', true) = 'on' THEN
        IF to_jsonb(NEW) - 'detail' = to_jsonb(OLD) - 'detail'
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
POSTGRESQL_AFTER = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('advice_line.retention', true) = 'on' THEN
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

SQLITE_BEFORE = """
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
WHEN NOT (
    advice_line_retention()
    AND (NEW.id, NEW.occurred_at, NEW.actor_kind, NEW.actor_user_id, NEW.source, NEW.action,
         NEW.request_id, NEW.subject_type, NEW.subject_id)
     IS (OLD.id, OLD.occurred_at, OLD.actor_kind, OLD.actor_user_id, OLD.source, OLD.action,
         OLD.request_id, OLD.subject_type, OLD.subject_id)
    AND json_type(NEW.detail) = 'object'
    AND NOT EXISTS (
        SELECT 1 FROM json_each(NEW.detail) AS kept
        WHERE NOT EXISTS (
            SELECT 1 FROM json_each(OLD.detail) AS was
            WHERE was.key = kept.key AND was.type = kept.type AND was.value IS kept.value
        )
    )
)
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END
"""
SQLITE_AFTER = """
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
"""


def _replace_triggers(postgresql, sqlite):
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute(postgresql)
    elif dialect == 'sqlite':
        op.execute("DROP TRIGGER audit_event_no_update")
        op.execute(sqlite)
    else:
        raise NotImplementedError(f"no audit triggers for {dialect}")


def upgrade():
    _replace_triggers(POSTGRESQL_AFTER, SQLITE_AFTER)
    op.create_index('ix_audit_event_source', 'audit_event', ['source'], unique=False)


def downgrade():
    op.drop_index('ix_audit_event_source', table_name='audit_event')
    _replace_triggers(POSTGRESQL_BEFORE, SQLITE_BEFORE)
