"""The one source of the current time: timezone-aware UTC, shown in Europe/London."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def london(moment: datetime | None) -> str:
    """Format a stored UTC time as local time in Europe/London (GMT or BST)."""
    if moment is None:
        return ""
    return moment.astimezone(LONDON).strftime("%d %b %Y %H:%M:%S %Z")
