"""``GET /healthz``: is the database (and Redis, if configured) reachable, is the spool sound."""

from __future__ import annotations

import functools
import logging
import sqlite3
from typing import Any

import redis
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from advice_line.clock import london, utcnow
from advice_line.extensions import db
from advice_line.spool import spool_of

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)
REDIS_TIMEOUT_SECONDS = 1.0


def _checked(check: Any) -> dict[str, Any]:
    """Whether ``check`` passed; no timings or counts, since anyone may ask."""
    try:
        check()
    except (SQLAlchemyError, redis.RedisError, OSError) as error:
        log.warning("health check failed: %s", error)
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True}


def _check_database() -> None:
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
    finally:
        db.session.rollback()


@functools.cache
def redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per URL: a ping is one round trip, not a new
    connection's four, each of which waits its turn on a busy process's event loop."""
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def _check_redis() -> None:
    redis_client(current_app.config["REDIS_URL"]).ping()


def _check_spool() -> dict[str, Any]:
    """Whether the spool can be read and holds nothing it gave up on (no counts)."""
    try:
        depth = spool_of(current_app).depth()
    except (sqlite3.Error, OSError) as error:
        log.warning("health check of the spool failed: %s", error)
        return {"ok": False, "error": type(error).__name__}
    if depth.held:
        return {"ok": False, "error": "entries held aside"}
    return {"ok": True}


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report each dependency; 503 when the database cannot be reached."""
    checks = {"database": _checked(_check_database)}
    if current_app.config["REDIS_URL"]:
        checks["redis"] = _checked(_check_redis)
    checks["spool"] = _check_spool()
    if not checks["database"]["ok"]:
        status, code = "unavailable", 503
    elif all(c["ok"] for c in checks.values()):
        status, code = "ok", 200
    else:
        status, code = "degraded", 200
    body = {"status": status, "checks": checks, "time": london(utcnow())}
    return jsonify(body), code
