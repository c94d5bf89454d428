"""What the waiting officer is told: a wait worked out from the queue and recent answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from advice_line.models import AdviceRequest, ClinicianStatus, RequestStatus
from advice_line.telephony.intake import NO_ESTIMATE, hold_message
from tests.builders import POLICY, T0, add_clinician, add_request

CALL_BACK_AFTER = timedelta(minutes=10)


def answered(session: Session, *waited_seconds: float, minutes_ago: float) -> None:
    """Requests answered ``minutes_ago`` before T0, after waiting each of ``waited_seconds``."""
    accepted = T0 - timedelta(minutes=minutes_ago)
    for seconds in waited_seconds:
        request = add_request(session, now=accepted - timedelta(seconds=seconds))
        request.status = RequestStatus.CLOSED
        request.accepted_at = accepted
    session.flush()


def alone_waiting(
    session: Session,
    *answer_waits: float,
    minutes_ago: float = 10,
    clinician: ClinicianStatus = ClinicianStatus.AVAILABLE,
) -> AdviceRequest:
    """One clinician (``clinician``), answers that took ``answer_waits`` seconds
    ``minutes_ago``, and one officer joining the queue at T0: their request."""
    add_clinician(session, status=clinician)
    answered(session, *answer_waits, minutes_ago=minutes_ago)
    return add_request(session, now=T0)


def heard(session: Session, request: AdviceRequest, *, at_seconds: float) -> str:
    """The hold message the officer hears ``at_seconds`` after joining the queue."""
    assert request.waiting_since is not None
    now = request.waiting_since + timedelta(seconds=at_seconds)
    return hold_message(session, request, now=now, policy=POLICY, call_back_after=CALL_BACK_AFTER)


def test_with_no_recent_answers_the_officer_is_told_no_figure(session: Session) -> None:
    answered(session, 20, minutes_ago=61)  # older than the last hour
    waiting = alone_waiting(session, 20, minutes_ago=5)  # one recent answer is too few
    message = heard(session, waiting, at_seconds=5)
    assert message == f"You are next. {NO_ESTIMATE}"
    assert "minute" not in message


def test_a_short_recent_answer_time_is_under_a_minute_only_in_the_first_minute(
    session: Session,
) -> None:
    waiting = alone_waiting(session, 10, 20, 300)  # median 20 s
    assert heard(session, waiting, at_seconds=5) == (
        "You are next. The expected wait is under a minute."
    )
    # Past the estimate: no figure, never "under a minute" at 100 s.
    late = heard(session, waiting, at_seconds=100)
    assert "under a minute" not in late
    assert NO_ESTIMATE in late


def test_the_estimate_grows_with_the_place_and_shrinks_with_clinicians(session: Session) -> None:
    add_clinician(session)
    add_clinician(session, status=ClinicianStatus.AWAY)  # away: not answering
    answered(session, 60, 90, 120, minutes_ago=30)  # median 90 s
    queue = [add_request(session, now=T0 - timedelta(seconds=10 - i)) for i in range(3)]
    third = queue[2]
    # Third in the queue, one clinician answering: 3 rounds of 90 s, less 10 s waited.
    assert heard(session, third, at_seconds=10) == (
        "You are number 3 in the queue. The expected wait is about 4 minutes."
    )
    add_clinician(session)  # two answering: two rounds, 170 s
    assert "about 3 minutes" in heard(session, third, at_seconds=10)


def test_a_wait_under_a_minute_is_said_as_a_minute_once_a_minute_has_passed(
    session: Session,
) -> None:
    waiting = alone_waiting(session, 100, 110, 120, minutes_ago=1)  # median 110 s
    message = heard(session, waiting, at_seconds=70)  # 40 s left, but 70 s waited
    assert message == "You are next. The expected wait is about 1 minute."


@pytest.mark.parametrize("status", [ClinicianStatus.AWAY, ClinicianStatus.OFFLINE])
def test_with_nobody_answering_no_figure_is_given(
    session: Session, status: ClinicianStatus
) -> None:
    waiting = alone_waiting(session, 10, 20, 30, clinician=status)
    assert heard(session, waiting, at_seconds=5) == f"You are next. {NO_ESTIMATE}"
