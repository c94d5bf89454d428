"""Checking a password against its hash without stalling everyone else.

werkzeug's hashes are scrypt: tens of milliseconds of CPU and 32 MiB each. Run on the
gevent loop, a flood of failed sign-ins stopped every other request of the process in
turn. Under gevent the check runs in gevent's thread pool (``hashlib.scrypt`` releases the
GIL) and at most ``PASSWORD_CHECKS_AT_ONCE`` run at once per process, so a flood queues
behind that bound and leaves the loop and the other cores free; without gevent (the
development server, tests) it is a plain call under the same bound. A check waiting its
turn must not hold a pooled database connection (thirty waiting sign-ins once emptied the
pool, and every console's socket handshake then waited for a connection), so the
request's transaction ends first: sign-in has only read by then.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from advice_line.extensions import db, socketio_async_mode

_bounds: dict[tuple[str, int], Any] = {}
_bounds_lock = threading.Lock()


def _bound(mode: str, size: int) -> Any:
    """The semaphore shared by every check of this process with this bound."""
    with _bounds_lock:
        if (mode, size) not in _bounds:
            if mode == "gevent":
                from gevent.lock import BoundedSemaphore

                _bounds[mode, size] = BoundedSemaphore(size)
            else:
                _bounds[mode, size] = threading.BoundedSemaphore(size)
        return _bounds[mode, size]


def password_matches(hashed: str, password: str) -> bool:
    """Whether ``password`` matches ``hashed``: off the event loop, a bounded few at once.

    Ends the request's database transaction first (rolled back: call it before writing).
    """
    db.session.rollback()
    mode = socketio_async_mode()
    with _bound(mode, int(current_app.config["PASSWORD_CHECKS_AT_ONCE"])):
        if mode == "gevent":
            import gevent

            return bool(gevent.get_hub().threadpool.apply(check_password_hash, (hashed, password)))
        return check_password_hash(hashed, password)


def hash_password(password: str) -> str:
    """What is stored for a password an admin sets: werkzeug's scrypt hash, as at sign-in."""
    return generate_password_hash(password)
