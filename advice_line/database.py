"""The database engine's set-up: pool options, SQLite made fit for many writers, migrations.

Two roles on PostgreSQL (README, "Database roles"): the app connects with
``DATABASE_URL`` as a role that owns nothing; migrations and retention run as the owner
of the tables (``OWNER_DATABASE_URL``, the same URL unless set).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from advice_line.audit import register_sqlite_functions

logger = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_SECONDS = 30
#: The Alembic (Flask-Migrate) folder, installed with the package.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def engine_options(url: str) -> dict[str, Any]:
    """Return the engine options for a database URL (``SQLALCHEMY_ENGINE_OPTIONS``)."""
    # Errors (and so logs) leave out statement parameters: they hold phone numbers.
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}, "hide_parameters": True}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20, "hide_parameters": True}


WRITE_PREFIXES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "SAVEPOINT")


def _is_write(statement: str, context: Any) -> bool:
    compiled = getattr(context, "compiled", None)
    locking = getattr(getattr(compiled, "statement", None), "_for_update_arg", None)
    return locking is not None or statement.lstrip().upper().startswith(WRITE_PREFIXES)


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite behave like READ COMMITTED with row locks, for many writers.

    WAL lets readers run beside the writer. A transaction begins lazily: plain reads in a
    deferred ``BEGIN``; the first write or ``SELECT ... FOR UPDATE`` ends any read-only
    snapshot and takes the write lock with ``BEGIN IMMEDIATE``, so writers queue on the
    busy timeout instead of failing on a stale snapshot. Each connection also gets the
    function the audit log's triggers call to ask whether retention may pseudonymise.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        register_sqlite_functions(dbapi_connection, record.info)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.info["sqlite_transaction"] = None

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(
        connection: Connection,
        cursor: Any,
        statement: str,
        _parameters: Any,
        context: Any,
        _executemany: bool,
    ) -> None:
        state = connection.info.get("sqlite_transaction")
        if state == "write" or not connection.in_transaction():
            return
        if _is_write(statement, context):
            if state == "read":
                cursor.execute("COMMIT")
            cursor.execute("BEGIN IMMEDIATE")
            connection.info["sqlite_transaction"] = "write"
        elif state is None:
            cursor.execute("BEGIN")
            connection.info["sqlite_transaction"] = "read"


@contextmanager
def owner_engine(app_engine: Engine, config: Mapping[str, Any]) -> Iterator[Engine]:
    """The engine of the tables' owner: the app's own when both URLs are the same."""
    url = config["OWNER_DATABASE_URL"]
    if url == config["SQLALCHEMY_DATABASE_URI"]:
        yield app_engine
        return
    engine = create_engine(url, **engine_options(url))
    configure_sqlite(engine)
    try:
        yield engine
    finally:
        engine.dispose()


#: Whether this session's role has the privileges of the audit log's owner.
OWNS_AUDIT_LOG = (
    "SELECT pg_catalog.pg_has_role(current_user, relowner, 'USAGE') "
    "FROM pg_catalog.pg_class WHERE oid = to_regclass('audit_event')"
)


def warn_if_owner(engine: Engine) -> None:
    """Log an error on the first connection if the app connects as the tables' owner.

    Such a role could disable the audit log's triggers and rewrite it. The app still
    starts: refusing would turn a deployment mistake into an outage of the line.
    """
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "first_connect")
    def _check(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(OWNS_AUDIT_LOG)
            owns = cursor.fetchone()
        finally:
            cursor.close()
            dbapi_connection.rollback()
        if owns and owns[0]:
            logger.error(
                "DATABASE_URL connects as the owner of the tables (or a superuser): this "
                "role could rewrite the audit log. Connect as a member of the app's role "
                "and run migrations with OWNER_DATABASE_URL (README, Database roles)."
            )
