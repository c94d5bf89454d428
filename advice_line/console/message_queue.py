"""The Redis message queue that carries console pushes between app processes.

python-socketio's ``RedisManager``, changed in two ways: when Redis goes away the log says
so once, in words an operator can act on (and once more when it is back), instead of two
bare errors on every push; and the listener retries every couple of seconds instead of
backing off to a minute, so pushes resume soon after Redis returns. Pushes to consoles on
this process never depend on Redis.

Both managers here (``LocalRooms`` for one process, ``RedisQueue`` for many) also end
sockets: closing a session's or a user's room (``end_sockets``) disconnects every socket
in it, on every process, so a signed-out or deactivated user's consoles stop at once and
leave every room they were pushed to. python-socketio has no "disconnect a room", but it
already carries ``close_room`` to every process, so that is the message used.
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
#: Closing a room named with one of these disconnects its sockets instead of only emptying it.
ENDING_ROOMS = ("session:", "user:")


def session_room(session_id: str) -> str:
    """The room of every socket opened with one sign-in session."""
    return f"session:{session_id}"


def user_room(user_id: int) -> str:
    """The room of every socket of one staff member."""
    return f"user:{user_id}"


def _disconnect_members(manager: socketio.Manager, room: str, namespace: str | None) -> None:
    """Disconnect this process's sockets in ``room`` if it is a session's or a user's."""
    if not isinstance(room, str) or not room.startswith(ENDING_ROOMS):
        return
    namespace = namespace or "/"
    for sid, _eio_sid in list(manager.get_participants(namespace, room)):
        manager.server.disconnect(sid, namespace=namespace, ignore_queue=True)


class LocalRooms(socketio.Manager):  # type: ignore[misc]
    """The rooms of one process; closing a session's or user's room disconnects its sockets."""

    def close_room(self, room: str, namespace: str | None) -> Any:
        """Disconnect the room's sockets if it ends a session, then empty it."""
        _disconnect_members(self, room, namespace)
        return super().close_room(room, namespace)


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

    def _handle_close_room(self, message: dict[str, Any]) -> None:
        """Closing a session's or user's room (here or on another process) disconnects it."""
        _disconnect_members(self, message.get("room", ""), message.get("namespace"))
        super()._handle_close_room(message)

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
