"""The one source of the current time: timezone-aware UTC, shown in Europe/London."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
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


_TIME = re.compile(r"(?:(\d{1,2})/(\d{1,2})(?:/(\d{4}))?\s+)?(\d{1,2}):?(\d{2})")


def london_moment(text: str, now: datetime, *, future: bool) -> datetime:
    """Read a London time such as ``22:00``, ``2200`` or ``30/11/2026 22:00`` as UTC.

    A bare time is its next occurrence (``future``) or its last one (otherwise), so an
    officer's "ARRIVED 23:50" sent just after midnight means last night. Raises
    ``ValueError`` with a sentence saying what was expected.
    """
    found = _TIME.fullmatch(text.strip())
    if found is None:
        raise ValueError("Give a time like 22:00, or a date and time like 30/11/2026 22:00.")
    day, month, year, hour, minute = found.groups()
    if year is not None and not 2000 <= int(year) <= 2999:
        raise ValueError(f"{text.strip()!r} is not a date this line could have seen.")
    local_now = now.astimezone(LONDON)
    try:
        moment = local_now.replace(
            year=int(year) if year else local_now.year,
            month=int(month) if month else local_now.month,
            day=int(day) if day else local_now.day,
            hour=int(hour),
            minute=int(minute),
            second=0,
            microsecond=0,
        )
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a real date and time.") from None
    if day is None and future and moment <= local_now:
        moment += timedelta(days=1)
    elif day is None and not future and moment > local_now:
        moment -= timedelta(days=1)
    return moment.replace(tzinfo=None).replace(tzinfo=LONDON).astimezone(UTC)
