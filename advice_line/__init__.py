"""Advice Line: a 24/7 clinician advice line for police officers (s136 MHA)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from advice_line import templating
from advice_line.clock import london
from advice_line.config import settings_from_env
from advice_line.console.gate import SocketGate
from advice_line.console.message_queue import LocalRooms, RedisQueue
from advice_line.console.payloads import CheckedPacket
from advice_line.database import MIGRATIONS, configure_sqlite, engine_options, warn_if_owner
from advice_line.extensions import (
    csrf,
    db,
    limiter,
    login_manager,
    migrate,
    socketio,
    socketio_async_mode,
)
from advice_line.inputs import IdConverter
from advice_line.logs import configure_logging, init_request_logging
from advice_line.metrics import init_metrics

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(
    config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Flask:
    """Create the app from the environment (or ``env``), then apply ``config`` overrides."""
    # /static/ serves the assets built at install (static_files.py), not advice_line/static/.
    app = Flask(
        __name__,
        instance_relative_config=True,
        static_folder="static_built",
        static_url_path="/static",
    )
    app.url_map.converters["int"] = IdConverter
    templating.init_app(app)
    app.config.update(settings_from_env(env, app.instance_path))
    if config:
        app.config.update(config)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    if url.startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app.config["LOG_FORMAT"])
    init_request_logging(app)
    init_metrics(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
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
    rooms = (
        RedisQueue(app.config["REDIS_URL"], app.config["SOCKETIO_CHANNEL"])
        if app.config["REDIS_URL"]
        else LocalRooms()
    )
    socketio.init_app(
        app,
        async_mode=socketio_async_mode(),
        message_queue=app.config["REDIS_URL"],
        channel=app.config["SOCKETIO_CHANNEL"],
        max_http_buffer_size=app.config["MAX_CONTENT_LENGTH"],
        serializer=CheckedPacket,
        client_manager=rooms,
    )
    # In front of engine.io (which Flask-SocketIO put in front of Flask): refuse anonymous
    # and crowded handshakes before a session exists. A proxy fix wraps outside this.
    app.wsgi_app = SocketGate(  # type: ignore[method-assign]
        app, app.wsgi_app, lambda: list(socketio.server.environ.values())
    )
    with app.app_context():
        configure_sqlite(db.engine)
        if app.config["ADVICE_LINE_MODE"] == "production":
            warn_if_owner(db.engine)

    from advice_line import cli, effects, health, navigation, security, static_files
    from advice_line.admin import routes as admin_routes
    from advice_line.auth import routes as auth_routes
    from advice_line.auth.sessions import signed_in_staff
    from advice_line.console import routes as console_routes
    from advice_line.public import routes as public_routes
    from advice_line.reports import routes as report_routes
    from advice_line.search import routes as search_routes
    from advice_line.telephony import webhooks

    security.init_app(app)
    navigation.init_app(app)
    static_files.init_app(app)
    security.trust_proxies(app)
    login_manager.user_loader(signed_in_staff)
    effects.wire()
    csrf.exempt(webhooks.bp)  # Twilio signs its requests instead
    app.register_blueprint(health.bp)
    app.register_blueprint(auth_routes.bp)
    app.register_blueprint(webhooks.bp)
    if app.config["TWILIO_SIMULATED"]:
        from advice_line.simulator import routes as simulator_routes
        from advice_line.simulator.switchboard import SimulatorGateway, switchboard
        from advice_line.telephony import gateway

        gateway.install(app, SimulatorGateway(switchboard(app)))
        app.register_blueprint(simulator_routes.bp)
    app.register_blueprint(public_routes.bp)
    app.register_blueprint(console_routes.bp)
    app.register_blueprint(report_routes.bp)
    app.register_blueprint(search_routes.bp)
    app.register_blueprint(admin_routes.bp)
    app.register_blueprint(cli.bp)
    app.add_template_filter(london, "london")
    return app
