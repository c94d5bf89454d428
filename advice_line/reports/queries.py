"""Figures for service managers, computed from the requests of a period (no Flask).

Definitions (shown on the dashboard too):
- *volume*: requests first received in the period (Europe/London dates).
- *queued*: those that reached the queue and were not cancelled; the base of the answer
  and abandonment rates.
- *time to answer*: from first queued to a clinician taking the request.
- *answered within N s*: queued requests taken within N seconds, as a share of queued.
- *time to call-back*: from abandonment to the call-back task being done.
- percentiles are nearest-rank; the median is the middle value (mean of the two middle).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from advice_line.clock import LONDON
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    Channel,
    Offer,
    OfferOutcome,
    Officer,
    OfficerDecision,
    OutcomeCode,
    RcrpPhase,
    RecordStatus,
    RequestStatus,
    Task,
    TaskKind,
)

TARGETS = (30, 60)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Filters:
    """Which requests a report covers: a period of London dates plus optional filters."""

    start: date
    end: date  # inclusive
    force: str | None = None
    area: str | None = None
    channel: Channel | None = None
    clinician_id: int | None = None
    rcrp_phase: RcrpPhase | None = None
    age_band: AgeBand | None = None

    def utc_range(self) -> tuple[datetime, datetime]:
        """The period as UTC instants [from, to)."""
        start = datetime.combine(self.start, time(0), LONDON)
        end = datetime.combine(self.end + timedelta(days=1), time(0), LONDON)
        return start, end


def nearest_rank(values: Sequence[float], percent: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float | None:
    """The median (None for no values)."""
    return statistics.median(values) if values else None


def share(part: int, whole: int) -> float | None:
    """A percentage rounded to one place (None when there is nothing to divide by)."""
    return round(100 * part / whole, 1) if whole else None


_TAKER = aliased(Offer)


def requests_query(
    filters: Filters,
) -> Select[AdviceRequest, AdviceRecord, str, int]:
    """The requests a report covers, with their record, officer force and clinician."""
    start, end = filters.utc_range()
    force = func.coalesce(Officer.force, AdviceRequest.claimed_force)
    query = (
        select(AdviceRequest, AdviceRecord, force.label("force"), _TAKER.clinician_id)
        .outerjoin(AdviceRecord, AdviceRecord.request_id == AdviceRequest.id)
        .outerjoin(Officer, Officer.id == AdviceRequest.officer_id)
        .outerjoin(
            _TAKER,
            and_(_TAKER.request_id == AdviceRequest.id, _TAKER.outcome == OfferOutcome.ACCEPTED),
        )
        .where(AdviceRequest.received_at >= start, AdviceRequest.received_at < end)
        .order_by(AdviceRequest.received_at, AdviceRequest.id)
    )
    conditions = {
        "area": AdviceRequest.area == filters.area,
        "channel": AdviceRequest.channel == filters.channel,
        "clinician_id": _TAKER.clinician_id == filters.clinician_id,
        "rcrp_phase": AdviceRequest.rcrp_phase == filters.rcrp_phase,
        "age_band": AdviceRequest.subject_age_band == filters.age_band,
        "force": force == filters.force,
    }
    for name, condition in conditions.items():
        if getattr(filters, name) is not None:
            query = query.where(condition)
    return query


@dataclass
class Dashboard:
    """Every figure of the manager's dashboard for one set of filters."""

    volume: int = 0
    queued: int = 0
    answered: int = 0
    answered_within: dict[int, float | None] = field(default_factory=dict)
    median_answer_seconds: float | None = None
    p90_answer_seconds: float | None = None
    abandoned: int = 0
    abandonment_rate: float | None = None
    median_call_back_minutes: float | None = None
    call_backs_outstanding: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    community_routes: dict[str, int] = field(default_factory=dict)
    advice_against_decision: dict[str, dict[str, int]] = field(default_factory=dict)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    by_weekday: list[int] = field(default_factory=lambda: [0] * 7)
    by_week: dict[str, dict[str, Any]] = field(default_factory=dict)
    equality: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def _decision_key(record: AdviceRecord | None) -> str:
    if record is None or record.officer_decision is None:
        return "not reported"
    return "detained" if record.officer_decision == OfficerDecision.DETAINED else "not detained"


def _equality(rows: Iterable[tuple[AdviceRequest, AdviceRecord | None]]) -> dict[str, Any]:
    groups: dict[str, dict[str, Counter[str]]] = {
        "age band": defaultdict(Counter),
        "sex": defaultdict(Counter),
        "ethnicity": defaultdict(Counter),
    }
    for request, record in rows:
        if record is None or record.status != RecordStatus.COMPLETE:
            continue
        keys = {
            "age band": request.subject_age_band,
            "sex": request.subject_sex,
            "ethnicity": request.subject_ethnicity,
        }
        for dimension, value in keys.items():
            counter = groups[dimension][value.value if value else "not recorded"]
            counter["advised"] += 1
            counter["s136"] += record.outcome == OutcomeCode.S136_ADVISED
            counter["reported"] += record.officer_decision is not None
            counter["detained"] += record.officer_decision == OfficerDecision.DETAINED
    return {
        dimension: {
            group: {
                "advised": c["advised"],
                "s136_advised_percent": share(c["s136"], c["advised"]),
                "detained_percent_of_reported": share(c["detained"], c["reported"]),
            }
            for group, c in sorted(values.items())
        }
        for dimension, values in groups.items()
    }


def dashboard(session: Session, filters: Filters) -> Dashboard:
    """Compute the dashboard for the filtered requests."""
    rows = session.execute(requests_query(filters)).all()
    board = Dashboard(volume=len(rows))
    answers: list[float] = []
    weeks: dict[str, Counter[str]] = defaultdict(Counter)
    abandoned_ids: list[int] = []
    for request, *_ in rows:
        local = request.received_at.astimezone(LONDON)
        board.by_hour[local.hour] += 1
        board.by_weekday[local.weekday()] += 1
        week = (local.date() - timedelta(days=local.weekday())).isoformat()
        weeks[week]["volume"] += 1
        if request.waiting_since is None or request.status == RequestStatus.CANCELLED:
            continue
        board.queued += 1
        weeks[week]["queued"] += 1
        if request.accepted_at is not None:
            waited = (request.accepted_at - request.waiting_since).total_seconds()
            answers.append(waited)
            weeks[week]["within_30"] += waited <= TARGETS[0]
        if request.status == RequestStatus.ABANDONED:
            abandoned_ids.append(request.id)
    board.answered = len(answers)
    board.answered_within = {
        target: share(sum(a <= target for a in answers), board.queued) for target in TARGETS
    }
    board.median_answer_seconds = median(answers)
    board.p90_answer_seconds = nearest_rank(answers, 90)
    board.abandoned = len(abandoned_ids)
    board.abandonment_rate = share(board.abandoned, board.queued)
    _call_backs(session, board, rows, abandoned_ids)
    complete = [
        (request, record)
        for request, record, _f, _c in rows
        if record is not None and record.status == RecordStatus.COMPLETE
    ]
    board.outcomes = dict(Counter(record.outcome.value for _, record in complete if record.outcome))
    board.community_routes = dict(
        Counter(record.community_route.value for _, record in complete if record.community_route)
    )
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for _, record in complete:
        advised = "s136 advised" if record.outcome == OutcomeCode.S136_ADVISED else "not advised"
        table[advised][_decision_key(record)] += 1
    board.advice_against_decision = {k: dict(v) for k, v in sorted(table.items())}
    board.by_week = {
        week: {
            "volume": c["volume"],
            "answered_within_30_percent": share(c["within_30"], c["queued"]),
        }
        for week, c in sorted(weeks.items())
    }
    board.equality = _equality((request, record) for request, record, _f, _c in rows)
    return board


def _call_backs(
    session: Session, board: Dashboard, rows: Sequence[Any], abandoned_ids: list[int]
) -> None:
    if not abandoned_ids:
        return
    abandoned_at = {request.id: request.abandoned_at for request, *_ in rows}
    tasks = session.execute(
        select(Task.request_id, Task.done_at).where(
            Task.kind == TaskKind.CALL_BACK, Task.request_id.in_(abandoned_ids)
        )
    ).all()
    minutes = []
    for request_id, done_at in tasks:
        if done_at is None:
            board.call_backs_outstanding += 1
        elif request_id is not None and abandoned_at[request_id] is not None:
            minutes.append((done_at - abandoned_at[request_id]).total_seconds() / 60)
    board.median_call_back_minutes = median(minutes)


@dataclass(frozen=True)
class FollowUp:
    """Who still needs something done."""

    open_tasks: list[Task]
    overdue_tasks: list[Task]
    safeguarding_tasks: list[Task]
    without_destination: list[AdviceRequest]


def follow_up(session: Session, now: datetime) -> FollowUp:
    """Open, overdue and safeguarding tasks; closed requests with nowhere recorded."""
    open_tasks = list(
        session.scalars(select(Task).where(Task.done_at.is_(None)).order_by(Task.due_at))
    )
    without = list(
        session.scalars(
            select(AdviceRequest)
            .join(AdviceRecord, AdviceRecord.request_id == AdviceRequest.id)
            .where(
                AdviceRecord.status == RecordStatus.COMPLETE,
                AdviceRecord.outcome != OutcomeCode.S136_ADVISED,
                or_(AdviceRecord.destination.is_(None), AdviceRecord.destination == ""),
            )
            .order_by(AdviceRequest.id)
        )
    )
    return FollowUp(
        open_tasks=open_tasks,
        overdue_tasks=[t for t in open_tasks if t.due_at < now],
        safeguarding_tasks=[t for t in open_tasks if t.kind == TaskKind.SAFEGUARDING],
        without_destination=without,
    )
