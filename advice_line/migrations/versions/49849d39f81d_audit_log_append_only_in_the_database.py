"""audit log append-only in the database: triggers refuse UPDATE, DELETE and TRUNCATE

Only retention may remove keys from ``detail``, inside its pseudonymisation window (the
transaction-local setting ``advice_line.retention = 'on'`` on PostgreSQL; the function
``advice_line_retention()`` the app registers on its SQLite connections). A later batch
migration that recreates ``audit_event`` on SQLite must create these triggers again.

Revision ID: 49849d39f81d
Revises: 206134eed864
Create Date: 2026-11-24 19:55:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '49849d39f81d'
down_revision = '206134eed864'
branch_labels = None
depends_on = None

POSTGRESQL_UPGRADE = (
    """
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
""",
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
)
POSTGRESQL_DOWNGRADE = (
    "DROP TRIGGER audit_event_no_truncate ON audit_event",
    "DROP TRIGGER audit_event_append_only ON audit_event",
    "DROP FUNCTION audit_event_append_only()",
)

SQLITE_UPGRADE = (
    """
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
""",
    """
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END
""",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER audit_event_no_delete",
    "DROP TRIGGER audit_event_no_update",
)


def _statements(upgrading):
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        return POSTGRESQL_UPGRADE if upgrading else POSTGRESQL_DOWNGRADE
    if dialect == 'sqlite':
        return SQLITE_UPGRADE if upgrading else SQLITE_DOWNGRADE
    raise NotImplementedError(f"no audit triggers for {dialect}")


def upgrade():
    for statement in _statements(upgrading=True):
        op.execute(statement)


def downgrade():
    for statement in _statements(upgrading=False):
        op.execute(statement)
