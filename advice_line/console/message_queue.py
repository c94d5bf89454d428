"""The Redis message queue that carries console pushes between app processes.

python-socketio's ``RedisManager``, changed in two ways: when Redis goes away the log says
so once, in words an operator can act on (and once more when it is back), instead of two
bare errors on every push; and the listener retries every couple of seconds instead of
backing off to a minute, so pushes resume soon after Redis returns. Pushes to consoles on
this process never depend on Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import redis
import socketio

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 2.0


class RedisQueue(socketio.RedisManager):  # type: ignore[misc]
    """Publish and receive console pushes through Redis; say when Redis comes and goes."""

    def __init__(self, url: str, channel: str = "flask-socketio") -> None:
        super().__init__(
            url,
            channel=channel,
            redis_options={"socket_connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
        self.reachable = True

    def _unreachable(self, error: Exception) -> None:
        self.connected = False
        if self.reachable:
            self.reachable = False
            log.warning(
                "Redis is unreachable (%s: %s): console updates reach only the consoles "
                "connected to this process until it is back",
                type(error).__name__,
                error,
            )

    def _back(self) -> None:
        if not self.reachable:
            self.reachable = True
            log.info("Redis is reachable again: console updates reach every process")

    def _publish(self, data: Any) -> None:
        try:
            if not self.connected:
                self._redis_connect()
            self.redis.publish(self.channel, self.json.dumps(data))
        except redis.RedisError as error:
            self._unreachable(error)
        else:
            self._back()

    def _redis_listen_with_retries(self) -> Iterator[dict[str, Any]]:
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                self._back()
                yield from self.pubsub.listen()
            except redis.RedisError as error:
                self._unreachable(error)
                time.sleep(RETRY_SECONDS)
