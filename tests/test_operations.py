"""The backup and restore of docs/OPERATIONS.md, followed through on PostgreSQL.

Roles and two databases are made as the guide says (with unique names: roles span the
cluster), the source is migrated and given demo data and history, backed up with
deploy/backup.sh and restored with deploy/restore.sh into a new database; the restored
copy must hold the same rows, an audit log that is still append-only, the migrations'
head, and serve the app as its role. Both databases and the roles are dropped after.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from advice_line import PROJECT_ROOT
from tests.conftest import service_url

pytestmark = pytest.mark.postgres

DEPLOY = PROJECT_ROOT / "deploy"
MIGRATIONS = PROJECT_ROOT / "advice_line" / "migrations"


@dataclass(frozen=True)
class Cluster:
    """The superuser's URL and the names this test made."""

    admin: URL
    owner: str
    app_role: str
    login: str
    source: str
    target: str

    def url(self, user: str, database: str) -> str:
        """A libpq URL (what pg_dump and psql read) for ``user`` on ``database``."""
        url = self.admin.set(drivername="postgresql", username=user, database=database)
        return url.render_as_string(hide_password=False)

    def env(self, database: str, tmp_path: Path) -> dict[str, str]:
        """The environment the guide sets for `flask` commands on ``database``."""
        return {
            **os.environ,
            "ADVICE_LINE_MODE": "demo",
            "DATABASE_URL": self.url(self.login, database),
            "OWNER_DATABASE_URL": self.url(self.owner, database),
            "DATABASE_APP_ROLE": self.app_role,
            "SPOOL_PATH": str(tmp_path / f"spool-{database}.sqlite3"),
        }


def run(*command: str, env: dict[str, str] | None = None) -> str:
    """Run a command of the guide from the checkout; it must succeed."""
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


def flask(env: dict[str, str], *args: str) -> str:
    return run(sys.executable, "-m", "flask", "--app", "advice_line", *args, env=env)


def psql(url: str, sql: str) -> str:
    return run("psql", "--no-password", "--tuples-only", "--no-align", url, "--command", sql)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    admin = make_url(service_url("TEST_DATABASE_URL", "PostgreSQL"))
    suffix = uuid.uuid4().hex[:10]
    found = Cluster(
        admin=admin,
        owner=f"t_own_{suffix}",
        app_role=f"t_app_{suffix}",
        login=f"t_login_{suffix}",
        source=f"advice_line_ops_{suffix}",
        target=f"advice_line_restore_test_{suffix}",
    )
    assert admin.database not in (found.source, found.target)  # never the shared `test`
    superuser = found.url(admin.username or "postgres", admin.database or "test")
    # The guide's "Database roles", with this test's names.
    psql(superuser, f"CREATE ROLE {found.owner} LOGIN")
    psql(superuser, f"CREATE ROLE {found.app_role} NOLOGIN")
    psql(superuser, f"CREATE ROLE {found.login} LOGIN IN ROLE {found.app_role}")
    psql(superuser, f"CREATE DATABASE {found.source} OWNER {found.owner}")
    try:
        yield found
    finally:
        for database in (found.target, found.source):
            psql(superuser, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        for role in (found.login, found.app_role, found.owner):
            psql(superuser, f"DROP ROLE IF EXISTS {role}")


def psycopg_engine(libpq_url: str) -> Engine:
    """An engine (psycopg 3) on a libpq URL."""
    return create_engine(libpq_url.replace("postgresql://", "postgresql+psycopg://", 1))


def counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the public schema."""
    with engine.connect() as connection:
        tables = connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).all()
        return {
            table: connection.scalar(text(f'SELECT count(*) FROM "{table}"')) or 0
            for table in tables
        }


def audit_log(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        query = "SELECT id, occurred_at, action, source, detail::text FROM audit_event ORDER BY id"
        return [tuple(row) for row in connection.execute(text(query))]


def test_a_backup_restores_into_a_new_database_whole_and_still_protected(
    cluster: Cluster, tmp_path: Path
) -> None:
    source_env = cluster.env(cluster.source, tmp_path)
    flask(source_env, "db", "upgrade")
    flask(source_env, "seed-demo")
    # seed-history resets a sequence, which only the owner may (README, "Database roles").
    flask(
        {**source_env, "DATABASE_URL": source_env["OWNER_DATABASE_URL"]},
        "seed-history",
        "--requests",
        "40",
    )
    flask(source_env, "deactivate-user", "amira")  # an audited change
    flask(source_env, "scheduler", "--once")

    # The guide's backup.
    backup = tmp_path / "advice_line.dump"
    run(str(DEPLOY / "backup.sh"), cluster.url(cluster.owner, cluster.source), str(backup))
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600

    # The guide's restore: a new, empty database owned by the owner, then restore.sh.
    superuser = cluster.url(cluster.admin.username or "postgres", cluster.admin.database or "")
    psql(superuser, f"CREATE DATABASE {cluster.target} OWNER {cluster.owner}")
    target_owner_url = cluster.url(cluster.owner, cluster.target)
    run(str(DEPLOY / "restore.sh"), str(backup), target_owner_url)

    source = psycopg_engine(cluster.url(cluster.owner, cluster.source))
    target = psycopg_engine(target_owner_url)
    as_app = psycopg_engine(cluster.url(cluster.login, cluster.target))
    try:
        restored = counts(target)
        assert restored == counts(source)
        assert restored["audit_event"] > 0
        assert restored["advice_request"] >= 40
        assert audit_log(target) == audit_log(source)

        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        with target.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head
        target_env = cluster.env(cluster.target, tmp_path)
        assert "(head)" in flask(target_env, "db", "current")
        events = psql(target_env["OWNER_DATABASE_URL"], "SELECT count(*) FROM audit_event")
        assert int(events) == restored["audit_event"]
        flask(target_env, "scheduler", "--once")
        assert "the run is in the audit log" in flask(target_env, "retention", "--apply")

        # Still append-only: the app's role may not, and the owner's trigger refuses.
        for database, refusal in ((as_app, "permission denied"), (target, "append-only")):
            with database.connect() as connection, pytest.raises(DBAPIError, match=refusal):
                connection.execute(text("UPDATE audit_event SET action = 'request.forged'"))
        before = audit_log(source)
        assert audit_log(target)[: len(before)] == before  # retention's run added one

        # The app ran on the copy as its role: the grants came back with the tables.
        with target.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM scheduler_tick")) == 2
    finally:
        for opened in (source, target, as_app):
            opened.dispose()


def test_restore_refuses_a_database_that_is_not_empty(cluster: Cluster, tmp_path: Path) -> None:
    source_env = cluster.env(cluster.source, tmp_path)
    flask(source_env, "db", "upgrade")
    backup = tmp_path / "advice_line.dump"
    run(str(DEPLOY / "backup.sh"), cluster.url(cluster.owner, cluster.source), str(backup))

    done = subprocess.run(
        [str(DEPLOY / "restore.sh"), str(backup), cluster.url(cluster.owner, cluster.source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "restore into an empty one" in done.stderr
