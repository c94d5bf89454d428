"""Logs: one JSON object (or text line) per record, each carrying its request's id.

Every HTTP request gets an id: the caller's ``X-Request-Id`` if it is short and safe,
otherwise a new one; it is sent back in the response's ``X-Request-Id``, attached to every
line logged while the request runs, and ends the request in an access line (method,
path, status, duration, client address), unless the server writes that line
(``advice_line.server_logs``). Anything that looks like a phone number is masked in every
line: callers' numbers are special-category data and must not reach log files.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TextIO

from flask import Flask, Response, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"
LOG_FORMATS = ("json", "text")
HANDLER_NAME = "advice_line"
# Kept in the WSGI environ, not flask.g: a request made inside another (the simulator
# calling the webhooks) shares the app context, and so g, with the outer one.
_REQUEST_ID = "advice_line.request_id"
_STARTED = "advice_line.request_started"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PHONE_NUMBER = re.compile(r"\+\d{7,15}|\b0\d{9,10}\b")
_STANDARD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "request_id"}
access_log = logging.getLogger("advice_line.access")
#: Whether the server (gunicorn with ``advice_line.server_logs``) writes the access lines.
_server_writes_access_lines: list[bool] = []


def access_lines_by_server() -> None:
    """Leave access lines to the server, which writes one for every request it serves."""
    _server_writes_access_lines.append(True)


def mask_phone_numbers(text: str) -> str:
    """Replace anything that looks like a phone number with ``[number]``."""
    return _PHONE_NUMBER.sub("[number]", text)


class RequestIdFilter(logging.Filter):
    """Attach the id of the request being handled, if any, to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` and let the record through."""
        if has_request_context() and _REQUEST_ID in request.environ:
            record.request_id = request.environ[_REQUEST_ID]
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record as JSON."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return mask_phone_numbers(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    """A readable line for a terminal: time, level, logger, request id, message."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            defaults={"request_id": "-"},
        )

    def format(self, record: logging.LogRecord) -> str:
        """Format the record as text."""
        return mask_phone_numbers(super().format(record))


class StderrHandler(logging.StreamHandler[TextIO]):
    """Write to whatever ``sys.stderr`` is at the time (the test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record to the current standard error."""
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(log_format: str) -> None:
    """Send the process's logs (INFO and up) to standard error in ``log_format``.

    Logging belongs to the process, not the app: one handler, added once however many
    apps are created; the last app created chooses the format.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == HANDLER_NAME), None)
    if handler is None:
        handler = StderrHandler()
        handler.set_name(HANDLER_NAME)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.setLevel(logging.INFO)


def _begin_request() -> None:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    request.environ[_REQUEST_ID] = (
        offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    )
    request.environ[_STARTED] = time.perf_counter()


def _end_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request.environ[_REQUEST_ID]
    if _server_writes_access_lines:
        return response
    duration_ms = round((time.perf_counter() - request.environ[_STARTED]) * 1000, 2)
    access_log.info(
        "%s %s %s %sms",
        request.method,
        request.path,
        response.status_code,
        duration_ms,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "remote_addr": request.remote_addr,
        },
    )
    return response


def init_request_logging(app: Flask) -> None:
    """Give each request an id and an access line (register before any other hook)."""
    app.before_request(_begin_request)
    app.after_request(_end_request)
