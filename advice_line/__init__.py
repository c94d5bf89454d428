"""Advice Line: a 24/7 clinician advice line for police officers (s136 MHA)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from advice_line.audit import register_sqlite_functions
from advice_line.clock import london
from advice_line.config import settings_from_env
from advice_line.console.message_queue import RedisQueue
from advice_line.extensions import csrf, db, limiter, login_manager, migrate, socketio
from advice_line.inputs import IdConverter
from advice_line.logs import configure_logging, init_request_logging
from advice_line.metrics import init_metrics

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


def _engine_options(url: str) -> dict[str, Any]:
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


def create_app(
    config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Flask:
    """Create the app from the environment (or ``env``), then apply ``config`` overrides."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.url_map.converters["int"] = IdConverter
    app.config.update(settings_from_env(env, app.instance_path))
    if config:
        app.config.update(config)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(url))
    if url.startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app.config["LOG_FORMAT"])
    init_request_logging(app)
    init_metrics(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    # Socket handlers must be known before the first init_app (Flask-SocketIO only queues
    # handlers declared while no server exists), and a message queue from an earlier app
    # in this process (tests make many) must not carry over.
    from advice_line.console import events  # noqa: F401 - declares the socket handlers

    socketio.server_options.pop("client_manager", None)
    queue = (
        {"client_manager": RedisQueue(app.config["REDIS_URL"])} if app.config["REDIS_URL"] else {}
    )
    socketio.init_app(
        app,
        async_mode="gevent" if _gevent_patched() else "threading",
        message_queue=app.config["REDIS_URL"],
        max_http_buffer_size=app.config["MAX_CONTENT_LENGTH"],
        **queue,
    )
    with app.app_context():
        configure_sqlite(db.engine)

    from advice_line import cli, effects, health, security, vendor
    from advice_line.auth import routes as auth_routes
    from advice_line.auth.roles import Staff
    from advice_line.console import routes as console_routes
    from advice_line.reports import routes as report_routes
    from advice_line.telephony import webhooks

    security.init_app(app)
    login_manager.user_loader(Staff.load)
    effects.wire()
    csrf.exempt(webhooks.bp)  # Twilio signs its requests instead
    app.register_blueprint(health.bp)
    app.register_blueprint(vendor.bp)
    app.register_blueprint(auth_routes.bp)
    app.register_blueprint(webhooks.bp)
    if app.config["TWILIO_SIMULATED"]:
        from advice_line.simulator import routes as simulator_routes
        from advice_line.simulator.switchboard import SimulatorGateway, switchboard
        from advice_line.telephony import gateway

        gateway.install(app, SimulatorGateway(switchboard(app)))
        app.register_blueprint(simulator_routes.bp)
    app.register_blueprint(console_routes.bp)
    app.register_blueprint(report_routes.bp)
    app.register_blueprint(cli.bp)
    app.add_template_filter(london, "london")
    return app
