"""Who is calling the line, and whether a request of theirs is over (calls and messages)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.lifecycle.errors import InvalidInput
from advice_line.models import OfficerPhone, RequestStatus
from advice_line.models.officer import Officer
from advice_line.phones import normalise

#: A request in one of these is over: the officer's next contact opens a new one.
TERMINAL = frozenset({RequestStatus.CLOSED, RequestStatus.ABANDONED, RequestStatus.CANCELLED})


def caller_number(raw: str) -> str | None:
    """Return the E.164 number of a caller ID (``whatsapp:`` stripped), None if withheld."""
    try:
        return normalise(raw.removeprefix("whatsapp:"))
    except InvalidInput:
        return None


def identify_officer(session: Session, number: str | None) -> Officer | None:
    """Return the officer whose verified phone this is."""
    if number is None:
        return None
    return session.scalars(
        select(Officer).join(OfficerPhone).where(OfficerPhone.number == number)
    ).one_or_none()
