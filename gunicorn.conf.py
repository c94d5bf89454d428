"""How gunicorn runs the app, in the container (``Dockerfile``) and under ``make run``.

    gunicorn -c gunicorn.conf.py wsgi:app       # GUNICORN_BIND, default 0.0.0.0:8000

One worker per process, on gevent (the consoles' Socket.IO websockets are long-lived
greenlets); scale by running more processes behind the proxy (``compose.yaml``,
``deploy/haproxy.cfg``), never more workers in one, or Socket.IO's sessions would be
split between workers that do not share them.

Proxies: gunicorn trusts no forwarded header (``forwarded_allow_ips`` empty, no
``secure_scheme_headers``); the app alone reads ``X-Forwarded-For`` and
``X-Forwarded-Proto``, through its ProxyFix, from the ``TRUSTED_PROXIES`` nearest hops
(1 behind one proxy). Two places that each trust the proxy could disagree about who the
client is; one cannot.

Logs: gunicorn's lines and one access line per request (``time``, ``method``, ``path``
without the query string, ``status``, ``duration_ms``, ``remote_addr``, ``request_id``)
in the app's ``LOG_FORMAT`` (``advice_line.server_logs``): access lines to standard
output, the rest to standard error.

Garbage collection: once the worker has loaded the app, everything start-up made (modules,
the app, SQLAlchemy's mappers, templates) is frozen out of the collector's sight
(``gc.freeze``), so a full collection walks only what requests and sockets made since,
instead of pausing every push and webhook for the whole heap.
"""

import gc
import os
from typing import Any

bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")]
worker_class = "gevent"
workers = 1
# Long enough for a webhook in flight; open websockets are cut after it (they reconnect).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))
control_socket_disable = True

forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}

logger_class = "advice_line.server_logs.ServerLogger"
accesslog = "-"
errorlog = "-"


def post_worker_init(_worker: Any) -> None:
    """Freeze what start-up made: full collections then skip it."""
    gc.collect()
    gc.freeze()
