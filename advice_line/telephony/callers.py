"""Who is calling the line, which open request of theirs a new contact joins, and whether
their number is past the limit on new requests (docs/DOMAIN.md#nuisance-calls)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from advice_line.lifecycle import FINISHED
from advice_line.lifecycle.errors import InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AdviceRequest, Channel, OfficerPhone, RequestStatus
from advice_line.models.officer import Officer
from advice_line.phones import normalise

#: The officer is still waiting or talking: another contact from the number joins it.
IN_PROGRESS = frozenset(RequestStatus) - FINISHED - {RequestStatus.WRAP_UP}
MESSAGE_CHANNELS = frozenset({Channel.SMS, Channel.WHATSAPP})


def caller_number(raw: str) -> str | None:
    """Return the E.164 number of a caller ID (``whatsapp:`` stripped), None if withheld."""
    try:
        return normalise(raw.removeprefix("whatsapp:"))
    except InvalidInput:
        return None


def identify_officer(session: Session, number: str | None) -> Officer | None:
    """Return the officer whose verified phone this is (an unverified one identifies no one:
    the caller gives collar number and force, docs/DOMAIN.md#the-officers-directory)."""
    if number is None:
        return None
    return session.scalars(
        select(Officer)
        .join(OfficerPhone)
        .where(
            OfficerPhone.number == number,
            OfficerPhone.verified_at.is_not(None),
            Officer.left_at.is_(None),
        )
    ).one_or_none()


def open_request(
    session: Session,
    number: str,
    *,
    channels: Collection[Channel] = tuple(Channel),
) -> AdviceRequest | None:
    """The number's latest request in progress by one of ``channels``."""
    return session.scalars(
        select(AdviceRequest)
        .where(
            AdviceRequest.caller_number == number,
            AdviceRequest.status.in_(IN_PROGRESS),
            AdviceRequest.channel.in_(channels),
        )
        .order_by(AdviceRequest.id.desc())
        .limit(1)
    ).one_or_none()


def request_a_message_joins(session: Session, number: str) -> AdviceRequest | None:
    """The number's request in progress on any channel, else its message thread still in
    wrap-up (the clinician writing it up reads the thread); None if it has neither."""
    in_progress = AdviceRequest.status.in_(IN_PROGRESS)
    return session.scalars(
        select(AdviceRequest)
        .where(
            AdviceRequest.caller_number == number,
            or_(
                in_progress,
                and_(
                    AdviceRequest.status == RequestStatus.WRAP_UP,
                    AdviceRequest.channel.in_(MESSAGE_CHANNELS),
                ),
            ),
        )
        .order_by(case((in_progress, 0), else_=1), AdviceRequest.id.desc())
        .limit(1)
    ).one_or_none()


def past_limit(session: Session, number: str, *, now: datetime, policy: RoutingPolicy) -> bool:
    """Whether the number has already opened the most new requests allowed in the window."""
    opened = session.scalar(
        select(func.count(AdviceRequest.id)).where(
            AdviceRequest.caller_number == number,
            AdviceRequest.received_at > now - policy.new_requests_window,
        )
    )
    return (opened or 0) >= policy.new_requests_per_number
