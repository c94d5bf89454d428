"""What the line asks of a phone network: the gateway protocol, a placed call, a refusal.

Twilio's REST gateway (``gateway.py``) and the demo simulator both offer it; neither
imports the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class GatewayError(Exception):
    """Twilio refused or failed a request; ``retryable`` if trying later may work."""

    def __init__(self, message: str, *, code: int | None, status: int | None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = status in RETRYABLE_STATUSES


@dataclass(frozen=True)
class PlacedCall:
    """A call Twilio accepted to place."""

    sid: str
    status: str


@dataclass(frozen=True)
class ParticipantChange:
    """What to change of a call in a conference (Twilio's Participant update); None: keep."""

    hold: bool | None = None
    end_conference_on_exit: bool | None = None
    muted: bool | None = None
    coaching: bool | None = None
    call_sid_to_coach: str | None = None

    def asked(self) -> dict[str, bool | str]:
        """The changes asked for, by Twilio's (the SDK's) parameter names."""
        return {name: value for name, value in asdict(self).items() if value is not None}


class Gateway(Protocol):
    """What the line asks of Twilio; the simulator offers the same."""

    def place_call(self, to: str, url: str) -> PlacedCall:
        """Call ``to``; the answered call fetches TwiML from ``url``."""

    def end_call(self, call_sid: str) -> None:
        """Hang up a call."""

    def update_participant(self, room: str, call_sid: str, change: ParticipantChange) -> None:
        """Change a call in the live conference ``room``: hold, exit, mute, coach."""

    def send_message(self, to: str, body: str) -> str:
        """Send a message; return its SID."""

    def calls_placed(self, to: str, since: datetime) -> list[str]:
        """SIDs of the calls the line placed to ``to`` at or after ``since``."""

    def messages_sent(self, to: str, body: str, since: datetime) -> list[str]:
        """SIDs of the messages with ``body`` the line sent to ``to`` at or after ``since``."""

    def recording_audio(self, recording_sid: str) -> bytes:
        """A recording's audio (WAV)."""

    def delete_recording(self, recording_sid: str) -> None:
        """Delete a recording at the phone network (one already gone is not an error)."""
