"""Socket event payloads, checked for size and depth before they are parsed or handled.

A console sends a few short fields (``["accept", {"request_id": 12}]``). A packet far
larger or more deeply nested than that is refused before Python's JSON parser sees it
(a thousand ``[`` exhaust the parser's recursion limit, and Engine.IO logged the
traceback each time): the packet keeps its event name and ack id, its payload becomes
``REFUSED``, and ``checked`` answers the ack with a plain error.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from socketio import packet

#: Characters of one packet's text: a console's largest is under a hundred.
MAX_PACKET_CHARS = 4096
#: Levels of ``[``/``{`` in one packet, the event's own list included (a console uses 2).
MAX_NESTING = 8
REFUSED_ANSWER = {
    "error": "That message was refused: it is larger or more deeply nested than a console sends."
}
_EVENT_NAME_AT = re.compile(r'\s*\[\s*(?=")')
Handler = TypeVar("Handler", bound=Callable[..., Any])


class Refused:
    """Stands in for a payload refused unparsed."""

    def __repr__(self) -> str:
        return "REFUSED"


REFUSED = Refused()


def acceptable(text: str) -> bool:
    """Whether a packet's text is small and shallow enough to parse."""
    if len(text) > MAX_PACKET_CHARS:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:  # brackets inside a JSON string are text, not nesting
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return False
        elif char in "]}":
            depth -= 1
    return True


class _Unparsed:
    """Reads only the event name of a refused packet's data, in place of ``json``."""

    @staticmethod
    def loads(text: str) -> list[Any]:
        found = _EVENT_NAME_AT.match(text)
        if found:
            try:
                name, _end = json.JSONDecoder().raw_decode(text, found.end())
            except ValueError:
                pass
            else:
                return [name, REFUSED]
        return ["", REFUSED]  # no event has an empty name: ignored, as unknown events are


class CheckedPacket(packet.Packet):  # type: ignore[misc]
    """A Socket.IO packet whose text is checked before its JSON is parsed."""

    def decode(self, encoded_packet: Any) -> Any:
        """Decode the packet; one too large or too deep keeps only its header and name."""
        if not isinstance(encoded_packet, str) or acceptable(encoded_packet):
            return super().decode(encoded_packet)
        self.json = _Unparsed
        try:
            attachments = super().decode(encoded_packet)
        finally:
            del self.json
        if self.packet_type not in (packet.EVENT, packet.BINARY_EVENT):
            self.data = None  # a connection's auth, or an ack: nothing we read
        return attachments


def checked(handler: Handler) -> Handler:
    """Answer an event whose payload was refused with ``REFUSED_ANSWER``, unhandled."""

    @functools.wraps(handler)
    def guarded(*args: Any) -> Any:
        if any(arg is REFUSED for arg in args):
            return dict(REFUSED_ANSWER)
        return handler(*args)

    return guarded  # type: ignore[return-value]
