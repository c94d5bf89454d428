"""The live board's sparkline: the queue's length over the last hour, from the audit log.

Every status change of a request is one audit event naming where it came from and went
(``lifecycle.steps.move``), so counting back from the queue as it stands now gives its
length after each change; a board opened mid-shift shows the hour, not an empty line.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.lifecycle import WAITING
from advice_line.models import AuditEvent

HOUR = timedelta(hours=1)
_WAITING = {status.value for status in WAITING}


def queue_over_the_hour(session: Session, now: datetime, waiting_now: int) -> list[list[int]]:
    """``[epoch milliseconds, requests waiting]`` from an hour ago to now, oldest first."""
    start = now - HOUR
    moves = session.execute(
        select(AuditEvent.occurred_at, AuditEvent.detail)
        .where(
            AuditEvent.occurred_at > start,
            AuditEvent.occurred_at <= now,
            AuditEvent.subject_type == "advice_request",
        )
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    ).all()
    points: list[list[int]] = []
    count = waiting_now
    for occurred_at, detail in moves:
        was, became = detail.get("from") in _WAITING, detail.get("to") in _WAITING
        if was == became:
            continue
        points.append([_milliseconds(occurred_at), count])
        count = max(0, count + (1 if was else -1))
    points.append([_milliseconds(start), count])
    return points[::-1]


def _milliseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
