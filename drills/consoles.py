"""A clinician's console as a python-socketio client that remembers what the queue showed."""

from __future__ import annotations

import threading
import time
from typing import Any

import socketio

from drills.harness import signed_in_cookie


class Console:
    """One signed-in console connected over a websocket (signed in now, or with ``cookie``)."""

    def __init__(self, base: str, username: str, password: str, cookie: str | None = None) -> None:
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("queue", self._queue)
        self.client.connect(
            base,
            headers={"Cookie": cookie or signed_in_cookie(base, username, password)},
            transports=["websocket"],
            wait_timeout=10,
        )

    def _queue(self, data: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self.lock:
            for request in data:
                self.seen.setdefault(str(request["reference"]), now)

    def wait_for(self, reference: str, timeout: float) -> bool:
        """Wait until the queue this console shows has held ``reference``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if reference in self.seen:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
