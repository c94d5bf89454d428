"""database roles: the app's role owns nothing and cannot rewrite the audit log

PostgreSQL: the role running the migrations owns the tables. The app's group role
(``DATABASE_APP_ROLE``, ``advice_line_app`` by default; created NOLOGIN if missing and
the owner may create roles) gets USAGE on the schema, SELECT, INSERT, UPDATE and DELETE
on every table but the audit log (SELECT and INSERT only) and ``alembic_version``
(nothing), and the sequences; default privileges give it the same on tables and sequences
the owner creates later. Retention's pseudonymisation window is no longer a setting any
session may turn on: the triggers honour ``advice_line.retention`` only for a role with
the owner's privileges, and the window opens inside ``audit_event_pseudonymise(changes)``,
a function only the owner may execute (search path pinned to this schema).

SQLite: a trigger refuses an INSERT with the id of an audit row that exists, which
``INSERT OR REPLACE`` would otherwise delete without firing the DELETE trigger.

Downgrading revokes the app role's privileges (the role itself stays: roles belong to the
whole cluster), drops the function and the SQLite trigger and restores the earlier
trigger function.

Revision ID: 7bc685ed5569
Revises: 5c2e0d8a41f7
Create Date: 2026-11-29 20:20:00.000000

"""
import re

from alembic import op
from flask import current_app
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7bc685ed5569'
down_revision = '5c2e0d8a41f7'
branch_labels = None
depends_on = None

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('advice_line.retention', true) = 'on'{owner}
    THEN
        IF to_jsonb(NEW) - 'detail' - 'source' = to_jsonb(OLD) - 'detail' - 'source'
            AND (NEW.source IS NOT DISTINCT FROM OLD.source
                 OR (NEW.source = 'pseudonymised' AND OLD.source ~ '^[A-Z]{{2}}[0-9a-fA-F]{{32}}$'))
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
ONLY_THE_OWNER = """
        AND pg_catalog.pg_has_role(
            current_user,
            (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID),
            'USAGE')"""

PSEUDONYMISE = """
CREATE FUNCTION audit_event_pseudonymise(changes jsonb) RETURNS integer
LANGUAGE plpgsql
SET search_path = {schema}, pg_temp
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
"""

CREATE_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{name}') THEN
        BEGIN
            CREATE ROLE {role} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by another migration on the same cluster
        END;
    END IF;
    IF pg_catalog.pg_has_role('{name}', current_user, 'USAGE') THEN
        RAISE EXCEPTION 'DATABASE_APP_ROLE % has the privileges of the owner %: '
            'the app must connect as a role that owns nothing', '{name}', current_user;
    END IF;
END
$$
"""

GRANTED = """
DO $$
BEGIN
    IF NOT pg_catalog.has_schema_privilege('{name}', current_schema(), 'USAGE') THEN
        RAISE EXCEPTION 'could not grant % USAGE on schema %: the role running the '
            'migrations must own the schema (README, Database roles)', '{name}', current_schema();
    END IF;
END
$$
"""

SQLITE_NO_REPLACE = """
CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
WHEN EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: REPLACE refused'); END
"""

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"


def _identifier(name):
    return '"' + name.replace('"', '""') + '"'


def _names():
    """The app's role (checked: the config allows only a plain name) and this schema."""
    name = current_app.config["DATABASE_APP_ROLE"]
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"DATABASE_APP_ROLE is not a plain role name: {name!r}")
    schema = op.get_bind().scalar(sa.text("SELECT current_schema()"))
    return name, _identifier(name), _identifier(schema)


def _postgresql_upgrade():
    name, role, schema = _names()
    op.execute(TRIGGER_FUNCTION.format(owner=ONLY_THE_OWNER))
    op.execute(PSEUDONYMISE.format(schema=schema))
    op.execute("REVOKE ALL ON FUNCTION audit_event_pseudonymise(jsonb) FROM PUBLIC")
    op.execute(CREATE_ROLE.format(name=name, role=role))
    for statement in (
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {schema} TO {role}",
        f"REVOKE ALL ON alembic_version FROM {role}",
        f"REVOKE UPDATE, DELETE ON audit_event FROM {role}",
        f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT {TABLE_PRIVILEGES} ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {role}",
    ):
        op.execute(statement)
    op.execute(GRANTED.format(name=name))


def _postgresql_downgrade():
    _, role, schema = _names()
    for statement in (
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"REVOKE {SEQUENCE_PRIVILEGES} ON SEQUENCES FROM {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"REVOKE {TABLE_PRIVILEGES} ON TABLES FROM {role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
        f"REVOKE USAGE ON SCHEMA {schema} FROM {role}",
        "DROP FUNCTION audit_event_pseudonymise(jsonb)",
    ):
        op.execute(statement)
    op.execute(TRIGGER_FUNCTION.format(owner=""))


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        _postgresql_upgrade()
    elif dialect == 'sqlite':
        op.execute(SQLITE_NO_REPLACE)
    else:
        raise NotImplementedError(f"no audit triggers for {dialect}")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        _postgresql_downgrade()
    elif dialect == 'sqlite':
        op.execute("DROP TRIGGER audit_event_no_replace")
    else:
        raise NotImplementedError(f"no audit triggers for {dialect}")
