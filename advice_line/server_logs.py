"""gunicorn's own lines in the app's log format, and one access line per request.

``gunicorn.conf.py`` names :class:`ServerLogger` as gunicorn's ``logger_class``. gunicorn
then writes the access line (it sees every request, Socket.IO's and refused ones too, not
only those Flask answers) in the app's JSON (or text) format: ``time``, ``method``,
``path`` (never the query string, which may carry a token), ``status``, ``duration_ms``,
``remote_addr`` (the client's, once the app's ProxyFix has read ``X-Forwarded-For``) and
the app's ``request_id``. The app then leaves its own access line out, so each request
has one.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from gunicorn import glogging

from advice_line.logs import (
    REQUEST_ID_HEADER,
    JsonFormatter,
    TextFormatter,
    access_lines_by_server,
)


def log_format(env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The app's ``LOG_FORMAT``: ``text`` in demo mode unless set, else ``json``."""
    demo = env.get("ADVICE_LINE_MODE") == "demo"
    return env.get("LOG_FORMAT") or ("text" if demo else "json")


class ServerLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn has no types
    """gunicorn's logger, writing the app's format."""

    def setup(self, cfg: Any) -> None:
        """Set gunicorn's handlers up, then give them the app's formatter."""
        super().setup(cfg)
        formatter = JsonFormatter() if log_format() == "json" else TextFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
        if self.access_log_enabled:
            access_lines_by_server()

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """One access line: the request as the app saw it (after ProxyFix), no query string."""
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status) if str(status).isdigit() else status,
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "remote_addr": environ.get("REMOTE_ADDR"),
            # As the app answered it (engine.io hands Flask a copy of the environ).
            "request_id": next(
                (v for k, v in resp.headers or () if k.lower() == REQUEST_ID_HEADER.lower()), None
            ),
        }
        if fields["request_id"] is None:  # not answered by the app: the formatter's default
            del fields["request_id"]
        self.access_log.info(
            "%s %s %s %sms",
            fields["method"],
            fields["path"],
            fields["status"],
            fields["duration_ms"],
            extra=fields,
        )
