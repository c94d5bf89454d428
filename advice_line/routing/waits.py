"""What the waiting officer is told: the expected wait, from the last hour's answers, the
queue and the clinicians answering (docs/DOMAIN.md#what-the-waiting-officer-is-told)."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import qualifying_condition
from advice_line.models import AdviceRequest, Clinician, ClinicianStatus, User
from advice_line.routing.views import on_shift, queue_position

#: The answered requests the expected wait is worked out from: those answered in the last
#: hour, and at least this many of them (docs/DOMAIN.md#what-the-waiting-officer-is-told).
ANSWER_HISTORY = timedelta(hours=1)
MIN_ANSWERED = 3
#: Clinicians who are answering requests: signed in and neither away nor offline.
ANSWERING = (
    ClinicianStatus.AVAILABLE,
    ClinicianStatus.OFFERED,
    ClinicianStatus.ON_CALL,
    ClinicianStatus.WRAP_UP,
)


def time_to_answer(session: Session, now: datetime) -> timedelta | None:
    """The median time from the queue to a clinician over the last hour's answered
    requests; ``None`` if fewer than ``MIN_ANSWERED`` were answered."""
    rows = session.execute(
        select(AdviceRequest.waiting_since, AdviceRequest.accepted_at).where(
            AdviceRequest.accepted_at > now - ANSWER_HISTORY,
            AdviceRequest.accepted_at <= now,
            AdviceRequest.waiting_since.is_not(None),
        )
    ).all()
    waits = [
        (accepted - waiting).total_seconds()
        for waiting, accepted in rows
        if waiting is not None and accepted is not None
    ]
    if len(waits) < MIN_ANSWERED:
        return None
    return timedelta(seconds=statistics.median(waits))


def count_answering(session: Session, *, now: datetime, policy: RoutingPolicy) -> int:
    """Count qualifying clinicians on shift now who are taking requests (not away)."""
    query = (
        select(func.count(Clinician.id))
        .join(User, User.id == Clinician.user_id)
        .where(
            Clinician.status.in_(ANSWERING),
            qualifying_condition(policy, now=now),
            User.active.is_(True),
            on_shift(now),
        )
    )
    return session.scalar(query) or 0


def expected_wait(
    session: Session, request: AdviceRequest, *, now: datetime, policy: RoutingPolicy
) -> timedelta | None:
    """How much longer a waiting request can expect to wait, or ``None`` with no honest figure.

    The recent median time to answer, once for each round of clinicians the requests
    ahead need (place in the queue / clinicians answering, rounded up), less the time
    already waited. ``None`` with too few recent answers, nobody answering, or a wait
    already past that estimate.
    """
    typical = time_to_answer(session, now)
    answering = count_answering(session, now=now, policy=policy)
    if typical is None or answering == 0 or request.waiting_since is None:
        return None
    rounds = math.ceil(queue_position(session, request) / answering)
    left = typical * rounds - (now - request.waiting_since)
    return left if left > timedelta(0) else None
