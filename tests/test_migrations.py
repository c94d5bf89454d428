"""Migrations build exactly the models' schema, on SQLite and PostgreSQL, from one head."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import DBAPIError

from advice_line import create_app
from advice_line.database import MIGRATIONS
from advice_line.extensions import db
from advice_line.models import (
    AuditEvent,
    Channel,
    OfficerDecision,
    PlaceOfSafetyUsed,
    Priority,
    RequestFact,
    RequestStatus,
)
from tests.conftest import demo_env
from tests.test_audit_log import pseudonymisation_window

AUDIT_TRIGGERS_DOWN_REVISION = "282f5cfd7026"
SID_SOURCES_DOWN_REVISION = "1359beec0ab5"
DETENTION_FACTS_DOWN_REVISION = "b98597db0180"


def test_there_is_a_single_head() -> None:
    config = Config(MIGRATIONS / "alembic.ini")
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_migrations_build_the_schema_the_models_describe(database_url: str, app_role: str) -> None:
    app = create_app({"TESTING": True}, env=demo_env(database_url, DATABASE_APP_ROLE=app_role))
    with app.app_context():
        try:
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, db.metadata) == []
            flask_migrate.downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
            flask_migrate.upgrade()
            assert set(inspect(db.engine).get_table_names()) >= set(db.metadata.tables)
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_audit_log_migration_adds_and_removes_its_triggers(
    database_url: str, app_role: str
) -> None:
    app = create_app({"TESTING": True}, env=demo_env(database_url, DATABASE_APP_ROLE=app_role))
    forge = text("UPDATE audit_event SET action = 'request.forged'")
    with app.app_context():
        try:
            flask_migrate.upgrade()
            with db.engine.begin() as connection:
                connection.execute(
                    insert(AuditEvent).values(
                        occurred_at=datetime.now(UTC), actor_kind="system", action="test", detail={}
                    )
                )
            for statement in (forge, text("DELETE FROM audit_event")):
                with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as c:
                    c.execute(statement)
            flask_migrate.downgrade(revision=AUDIT_TRIGGERS_DOWN_REVISION)
            with db.engine.begin() as connection:
                connection.execute(forge)
            flask_migrate.upgrade()
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
                connection.execute(text("DELETE FROM audit_event"))
            with db.engine.connect() as connection:
                assert connection.scalar(select(AuditEvent.action)) == "request.forged"
        finally:
            db.session.remove()
            db.engine.dispose()


def _audit_triggers() -> set[str]:
    """The audit log's triggers (and PostgreSQL's trigger function) as the database has them."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            found = connection.scalars(
                text("SELECT sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
        else:
            found = connection.scalars(
                text(
                    "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                    "WHERE tgrelid = 'audit_event'::regclass AND NOT tgisinternal "
                    "UNION ALL SELECT pg_get_functiondef('audit_event_append_only'::regproc) "
                    "UNION ALL SELECT pg_get_functiondef('audit_event_pseudonymise'::regproc)"
                )
            ).all()
    return {" ".join(definition.split()) for definition in found}


def test_the_sid_sources_migration_builds_the_models_triggers_and_undoes_them(
    database_url: str, app_role: str
) -> None:
    app = create_app({"TESTING": True}, env=demo_env(database_url, DATABASE_APP_ROLE=app_role))
    pseudonymise = text("UPDATE audit_event SET source = 'pseudonymised'")
    with app.app_context():
        try:
            flask_migrate.upgrade()
            migrated = _audit_triggers()
            with db.engine.begin() as connection:
                connection.execute(
                    insert(AuditEvent).values(
                        occurred_at=datetime.now(UTC),
                        actor_kind="twilio",
                        source="CA" + "0" * 32,
                        action="test",
                        detail={},
                    )
                )
            flask_migrate.downgrade(revision=SID_SOURCES_DOWN_REVISION)
            with (
                pytest.raises(DBAPIError, match="append-only"),
                pseudonymisation_window(db.session()) as connection,
            ):
                connection.execute(pseudonymise)
            db.session.rollback()
            flask_migrate.upgrade()
            with pseudonymisation_window(db.session()) as connection:
                connection.execute(pseudonymise)
            db.session.commit()
            assert db.session.scalar(select(AuditEvent.source)) == "pseudonymised"
            db.session.remove()  # its transaction would hold the table the downgrade drops
            flask_migrate.downgrade(revision="base")
            db.metadata.create_all(db.engine)
            assert _audit_triggers() == migrated
            assert any("'pseudonymised'" in trigger for trigger in migrated)
        finally:
            db.session.remove()
            db.engine.dispose()


def _check_constraints() -> dict[str, set[tuple[str | None, str]]]:
    """Every table's CHECK constraints as the database reports them."""
    inspector = inspect(db.engine)
    return {
        table: {
            (c["name"], " ".join(str(c["sqltext"]).split()))
            for c in inspector.get_check_constraints(table)
        }
        for table in db.metadata.tables
    }


def test_migrations_build_the_check_constraints_the_models_describe(
    database_url: str, app_role: str
) -> None:
    """compare_metadata does not see CHECK constraints; a new enum value needs one too."""
    app = create_app({"TESTING": True}, env=demo_env(database_url, DATABASE_APP_ROLE=app_role))
    with app.app_context():
        try:
            flask_migrate.upgrade()
            migrated = _check_constraints()
            flask_migrate.downgrade(revision="base")
            db.metadata.create_all(db.engine)
            created = _check_constraints()
            assert any("detention_clock" in text for _, text in migrated["task"])
            assert migrated == created
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_detention_facts_migration_works_out_the_facts_already_stored(
    database_url: str, app_role: str
) -> None:
    app = create_app({"TESTING": True}, env=demo_env(database_url, DATABASE_APP_ROLE=app_role))
    received = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    arrived = received + timedelta(hours=2)
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=DETENTION_FACTS_DOWN_REVISION)
            requests, detentions = (db.metadata.tables[t] for t in ("advice_request", "detention"))
            with db.engine.begin() as connection:  # Core: no ORM flush refreshes the facts
                request_id = connection.scalar(
                    insert(requests)
                    .values(
                        channel=Channel.SMS,
                        status=RequestStatus.CLOSED,
                        priority=Priority.ROUTINE,
                        skills_needed=[],
                        received_at=received,
                    )
                    .returning(requests.c.id)
                )
                connection.execute(
                    insert(detentions).values(
                        request_id=request_id,
                        decision=OfficerDecision.DETAINED,
                        arrived_at=arrived,
                        handed_over_at=arrived + timedelta(minutes=60, seconds=1),
                        place_of_safety_used=PlaceOfSafetyUsed.HEALTH_BASED,
                        updated_at=arrived,
                    )
                )
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                fact = connection.execute(
                    select(
                        RequestFact.detained,
                        RequestFact.arrived,
                        RequestFact.handover_minutes,
                        RequestFact.past_limit,
                        RequestFact.must_end_by,
                        RequestFact.place_used,
                    )
                ).one()
            limit = int((arrived + timedelta(hours=24)).timestamp())
            assert tuple(fact) == (1, 1, 61, 0, limit, PlaceOfSafetyUsed.HEALTH_BASED)
            flask_migrate.downgrade(revision=DETENTION_FACTS_DOWN_REVISION)
        finally:
            db.session.remove()
            db.engine.dispose()


ROLES_DOWN_REVISION = "5c2e0d8a41f7"
APP_ROLE_PRIVILEGES = text(
    "SELECT has_table_privilege(:role, 'audit_event', 'SELECT'), "
    "has_table_privilege(:role, 'audit_event', 'INSERT'), "
    "has_table_privilege(:role, 'audit_event', 'UPDATE'), "
    "has_table_privilege(:role, 'audit_event', 'DELETE'), "
    "has_table_privilege(:role, 'audit_event', 'TRUNCATE'), "
    "has_table_privilege(:role, 'advice_request', 'UPDATE'), "
    "has_table_privilege(:role, 'alembic_version', 'SELECT'), "
    "has_function_privilege(:role, 'audit_event_pseudonymise(jsonb)', 'EXECUTE')"
)


def test_the_roles_migration_grants_the_app_role_what_it_needs_and_takes_it_back(
    database_url: str, app_role: str
) -> None:
    app = create_app({"TESTING": True}, env=demo_env(database_url, DATABASE_APP_ROLE=app_role))
    replace = text(
        "INSERT OR REPLACE INTO audit_event (id, occurred_at, actor_kind, action, detail) "
        "SELECT id, occurred_at, actor_kind, 'request.forged', detail FROM audit_event"
    )
    with app.app_context():
        try:
            flask_migrate.upgrade()
            with db.engine.begin() as connection:
                connection.execute(
                    insert(AuditEvent).values(
                        occurred_at=datetime.now(UTC), actor_kind="system", action="test", detail={}
                    )
                )
            if db.engine.dialect.name == "sqlite":
                with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as c:
                    c.execute(replace)
                flask_migrate.downgrade(revision=ROLES_DOWN_REVISION)
                with db.engine.begin() as connection:
                    connection.execute(replace)  # the hole the migration closes
                flask_migrate.upgrade()
                with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as c:
                    c.execute(replace)
                return
            role = {"role": app_role}
            with db.engine.begin() as connection:
                granted = tuple(connection.execute(APP_ROLE_PRIVILEGES, role).one())
                connection.execute(text("CREATE TABLE added_later (id serial PRIMARY KEY)"))
                added_later = connection.scalar(
                    text(
                        "SELECT has_table_privilege(:role, 'added_later', 'INSERT') "
                        "AND has_sequence_privilege(:role, 'added_later_id_seq', 'USAGE')"
                    ),
                    role,
                )
                connection.execute(text("DROP TABLE added_later"))
            assert granted == (True, True, False, False, False, True, False, False)
            assert added_later, "tables a later migration adds are granted too"
            flask_migrate.downgrade(revision=ROLES_DOWN_REVISION)
            with db.engine.connect() as connection:
                left = connection.execute(
                    text(
                        "SELECT has_schema_privilege(:role, current_schema(), 'USAGE'), "
                        "has_table_privilege(:role, 'advice_request', 'SELECT'), "
                        "to_regprocedure('audit_event_pseudonymise(jsonb)') IS NOT NULL"
                    ),
                    role,
                ).one()
            assert tuple(left) == (False, False, False)
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                assert tuple(connection.execute(APP_ROLE_PRIVILEGES, role).one()) == granted
        finally:
            db.session.remove()
            db.engine.dispose()
