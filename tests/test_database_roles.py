"""Two roles on PostgreSQL: the app's owns nothing and cannot rewrite the audit log.

Each test makes its own roles as the README says (an owner that migrates, a NOLOGIN app
role, a login in it) and drops them afterwards: roles belong to the whole cluster, which
other test runs share. Every attack is raw SQL on a connection as that role.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import flask_migrate
import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from advice_line import create_app
from advice_line.audit import SYSTEM, record_event
from advice_line.clock import utcnow
from advice_line.demo import seed_demo
from advice_line.extensions import db
from advice_line.models import AdviceRequest, AuditEvent, Channel, Priority, RequestStatus
from advice_line.retention import PSEUDONYMISED
from tests.builders import add_request
from tests.conftest import PRODUCTION_ENV, demo_env, drop_roles

pytestmark = pytest.mark.postgres

INTAKE = {"claimed_collar_number": "MP1234", "claimed_force": "Met", "risk_to_life": True}


@dataclass(frozen=True)
class Roles:
    """The URLs of the owner and of a login in the app's role, and the app role's name."""

    owner_url: str
    app_url: str
    app_role: str

    def app_env(self, **extra: str) -> dict[str, str]:
        """A demo app's environment connecting as the app's role."""
        return demo_env(
            self.app_url,
            OWNER_DATABASE_URL=self.owner_url,
            DATABASE_APP_ROLE=self.app_role,
            **extra,
        )


@pytest.fixture
def roles(postgres_url: str) -> Iterator[Roles]:
    """Create the roles as the README does, then migrate as the owner."""
    suffix = uuid.uuid4().hex[:12]
    owner, app_role, login = (f"t_{kind}_{suffix}" for kind in ("own", "app", "login"))
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        schema = connection.scalar(text("SELECT current_schema()"))
        connection.execute(text(f'CREATE ROLE "{owner}" LOGIN'))
        connection.execute(text(f'CREATE ROLE "{app_role}" NOLOGIN'))
        connection.execute(text(f'CREATE ROLE "{login}" LOGIN IN ROLE "{app_role}"'))
        connection.execute(text(f'ALTER SCHEMA "{schema}" OWNER TO "{owner}"'))
    admin.dispose()
    url = make_url(postgres_url)
    found = Roles(
        owner_url=url.set(username=owner).render_as_string(hide_password=False),
        app_url=url.set(username=login).render_as_string(hide_password=False),
        app_role=app_role,
    )
    try:
        migrator = create_app({"TESTING": True}, env=found.app_env())
        with migrator.app_context():
            flask_migrate.upgrade()
            db.engine.dispose()
        yield found
    finally:
        admin = create_engine(postgres_url)
        with admin.begin() as connection:  # the schema outlives the roles, for its fixture
            connection.execute(text(f'ALTER SCHEMA "{schema}" OWNER TO CURRENT_USER'))
        admin.dispose()
        drop_roles(login, app_role, owner)


@pytest.fixture
def app_as_app_role(roles: Roles) -> Iterator[Flask]:
    """The app connecting as the app's role, with an application context pushed."""
    app = create_app({"TESTING": True, "JOBS_INLINE": True}, env=roles.app_env())
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def engine_for(url: str) -> Engine:
    return create_engine(url)


def refused(engine: Engine, *statements: str, match: str) -> None:
    """Run the statements in one transaction as that engine's role: the last is refused."""
    *preparation, attack = statements
    with engine.connect() as connection:
        for statement in preparation:
            connection.execute(text(statement))
        with pytest.raises(DBAPIError, match=match):
            connection.execute(text(attack))
        connection.rollback()


def audit_log(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text("SELECT id, action, source, detail::text FROM audit_event ORDER BY id")
            )
        ]


def test_the_app_works_as_a_role_that_owns_nothing(app_as_app_role: Flask) -> None:
    session = db.session()
    assert seed_demo(session, now=utcnow())
    request = add_request(session)
    session.commit()

    assert session.scalar(text("SELECT current_user")).startswith("t_login_")
    owner = session.scalar(
        text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'audit_event'::regclass")
    )
    assert owner.startswith("t_own_")
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.request_id == request.id)
    ).all()
    assert actions, "the app role writes audit events"


def _intake_event() -> int:
    """Record one request's intake in the audit log, as the app role; return the event's id."""
    session = db.session()
    request = add_request(session)
    record_event(
        session, SYSTEM, "request.intake", now=utcnow(), request_id=request.id, detail=INTAKE
    )
    session.commit()
    event_id = session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.request_id == request.id, AuditEvent.action == "request.intake"
        )
    )
    assert event_id is not None
    return event_id


def test_the_app_role_cannot_rewrite_the_audit_log_or_lift_its_protection(
    app_as_app_role: Flask, roles: Roles
) -> None:
    event_id = _intake_event()
    app, owner = engine_for(roles.app_url), engine_for(roles.owner_url)
    before = audit_log(owner)
    denied = "permission denied|must be owner"
    try:
        for attack in (
            ("UPDATE audit_event SET action = 'request.forged'",),
            ("UPDATE audit_event SET detail = '{}'",),
            ("DELETE FROM audit_event",),
            ("TRUNCATE audit_event",),
            ("TRUNCATE advice_request CASCADE",),
            (
                f"INSERT INTO audit_event (id, occurred_at, actor_kind, action, detail) "
                f"VALUES ({event_id}, now(), 'system', 'x', '{{}}') "
                "ON CONFLICT (id) DO UPDATE SET action = 'request.forged'",
            ),
            # The window as it was: a setting any session could turn on.
            (
                "SET LOCAL advice_line.retention = 'on'",
                f"UPDATE audit_event SET detail = '{{}}' WHERE id = {event_id}",
            ),
            (
                "SELECT audit_event_pseudonymise("
                f"""'[{{"id": {event_id}, "detail": {{}}, "source": null}}]')""",
            ),
            ("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",),
            ("ALTER TABLE audit_event DISABLE TRIGGER ALL",),
            ("DROP TRIGGER audit_event_append_only ON audit_event",),
            (
                "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            ),
            ("ALTER TABLE audit_event RENAME TO audit_event_old",),
            ("DROP TABLE audit_event CASCADE",),
            ("SET session_replication_role = replica",),
            (
                "GRANT UPDATE ON audit_event TO CURRENT_USER",
                "UPDATE audit_event SET action = 'request.forged'",
            ),
            ("CREATE TABLE audit_shadow (id integer)",),
        ):
            refused(app, *attack, match=denied)
        assert audit_log(owner) == before
        with owner.connect() as connection:
            enabled = connection.scalars(
                text(
                    "SELECT tgenabled FROM pg_trigger "
                    "WHERE tgrelid = 'audit_event'::regclass AND NOT tgisinternal"
                )
            ).all()
        assert enabled == ["O", "O"], "both triggers still fire"
    finally:
        app.dispose()
        owner.dispose()


def test_only_the_owner_opens_the_window_even_after_a_grant_made_by_mistake(
    app_as_app_role: Flask, roles: Roles
) -> None:
    event_id = _intake_event()
    app, owner = engine_for(roles.app_url), engine_for(roles.owner_url)

    def pseudonymise(detail: dict[str, object]) -> str:
        change = [{"id": event_id, "detail": detail, "source": None}]
        return f"SELECT audit_event_pseudonymise('{json.dumps(change)}')"

    kept: dict[str, object] = {"risk_to_life": True}
    try:
        with owner.begin() as connection:
            connection.execute(text(f'GRANT UPDATE ON audit_event TO "{roles.app_role}"'))
            function = "FUNCTION audit_event_pseudonymise(jsonb)"
            connection.execute(text(f'GRANT EXECUTE ON {function} TO "{roles.app_role}"'))
        for attack in (
            (
                "SET LOCAL advice_line.retention = 'on'",
                f"UPDATE audit_event SET detail = '{json.dumps(kept)}' WHERE id = {event_id}",
            ),
            (pseudonymise(kept),),
        ):
            refused(app, *attack, match="append-only")
        refused(
            owner,
            f"UPDATE audit_event SET detail = '{{}}' WHERE id = {event_id}",
            match="append-only",
        )
        refused(owner, pseudonymise({**INTAKE, "added": 1}), match="append-only")

        with owner.begin() as connection:
            assert connection.scalar(text(pseudonymise(kept))) == 1
            window = connection.scalar(
                text("SELECT current_setting('advice_line.retention', true)")
            )
        assert window != "on", "the window closes as the function returns"
        session = db.session()
        session.expire_all()
        assert session.get_one(AuditEvent, event_id).detail == kept
    finally:
        app.dispose()
        owner.dispose()


def old_request(session: Session, received: datetime) -> int:
    request = AdviceRequest(
        channel=Channel.VOICE,
        status=RequestStatus.CLOSED,
        priority=Priority.ROUTINE,
        skills_needed=[],
        received_at=received,
        closed_at=received,
        location="12 Acacia Avenue",
    )
    session.add(request)
    session.flush()
    record_event(
        session, SYSTEM, "request.intake", now=received, request_id=request.id, detail=INTAKE
    )
    session.commit()
    return request.id


def test_retention_runs_as_the_owner_and_not_as_the_app_role(
    app_as_app_role: Flask, roles: Roles
) -> None:
    session = db.session()
    long_ago = datetime(datetime.now(UTC).year - 21, 6, 1, tzinfo=UTC)
    first = old_request(session, long_ago)

    applied = app_as_app_role.test_cli_runner().invoke(args=["retention", "--apply"])
    assert "Pseudonymised 1 requests" in applied.output, applied.output
    session.expire_all()
    assert session.get_one(AdviceRequest, first).location == PSEUDONYMISED
    intake = select(AuditEvent.detail).where(
        AuditEvent.request_id == first, AuditEvent.action == "request.intake"
    )
    assert session.scalar(intake) == {"risk_to_life": True}

    second = old_request(session, long_ago)
    app_role_only = create_app(
        {"TESTING": True}, env=demo_env(roles.app_url, DATABASE_APP_ROLE=roles.app_role)
    )
    with app_role_only.app_context():
        try:
            refused_run = app_role_only.test_cli_runner().invoke(args=["retention", "--apply"])
        finally:
            db.session.remove()
            db.engine.dispose()
    assert refused_run.exit_code != 0
    assert "permission denied for function audit_event_pseudonymise" in str(refused_run.exception)
    session.expire_all()
    assert session.get_one(AdviceRequest, second).location == "12 Acacia Avenue", "rolled back"


@pytest.mark.parametrize("as_owner", [True, False])
def test_production_logs_an_error_when_the_app_connects_as_the_owner(
    roles: Roles, caplog: pytest.LogCaptureFixture, as_owner: bool
) -> None:
    url = roles.owner_url if as_owner else roles.app_url
    app = create_app(env={**PRODUCTION_ENV, "DATABASE_URL": url, "SCHEDULER_IN_PROCESS": "false"})
    with caplog.at_level(logging.ERROR, logger="advice_line.database"), app.app_context():
        try:
            db.session.execute(text("SELECT 1"))
        finally:
            db.session.remove()
            db.engine.dispose()
    warned = [r for r in caplog.records if "could rewrite the audit log" in r.getMessage()]
    assert bool(warned) == as_owner
