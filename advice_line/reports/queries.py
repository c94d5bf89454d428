"""Figures for service managers, computed from the requests of a period (no Flask).

Definitions (shown on the dashboard too):
- *volume*: requests first received in the period (Europe/London dates).
- *queued*: those that reached the queue and were not cancelled; the base of the answer
  and abandonment rates.
- *nuisance calls*: requests a senior closed as nuisance calls (cancelled): counted in
  the volume, never in queued, answered, abandoned or the outcomes.
- *time to answer*: from first queued to a clinician taking the request.
- *answered within N s*: queued requests taken within N seconds, as a share of queued.
- times to answer are measured to the tenth of a second.
- *time to call-back*: from abandonment to the first call-back task done.
- *detentions*: requests of the period whose officer reported detaining the person.
- *time to handover*: from arrival at the place of safety to handover, in whole minutes
  rounded up, for detentions with both times; *handed over within an hour* is a share of
  the detentions with an arrival (those with no handover yet count as not within).
- *past the limit*: 24 hours from arrival, 36 once extended (``lifecycle.time_allowed``):
  ended after it, or no end reported and past it now.
- *where people went*, by advice outcome: the place of safety used when the officer
  detained; otherwise the community route advised, else "not detained" or "not reported".
- percentiles are nearest-rank; the median is the middle value (mean of the two middle).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from advice_line.clock import LONDON, utcnow
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    Channel,
    Detention,
    Offer,
    OfferOutcome,
    Officer,
    OfficerDecision,
    OutcomeCode,
    RcrpPhase,
    RecordStatus,
    RequestFact,
    Task,
    TaskKind,
)
from advice_line.reports import facts
from advice_line.reports.facts import ADVICE_SEPARATOR

TARGETS = (30, 60)
#: RCRP: police should be able to hand over and leave within an hour (DOMAIN.md#handover).
HANDOVER_TARGET_MINUTES = 60
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


TAKER = aliased(Offer)
#: The officer's force from the directory, or the force they gave when unverified.
force_of_request = func.coalesce(Officer.force, AdviceRequest.claimed_force)


def requests_query(
    filters: Filters,
) -> Select[AdviceRequest, AdviceRecord, str, int]:
    """The requests a report covers, with their record, officer force and clinician."""
    start, end = filters.utc_range()
    query = (
        select(AdviceRequest, AdviceRecord, force_of_request.label("force"), TAKER.clinician_id)
        .outerjoin(AdviceRecord, AdviceRecord.request_id == AdviceRequest.id)
        .outerjoin(Detention, Detention.request_id == AdviceRequest.id)
        .outerjoin(Officer, Officer.id == AdviceRequest.officer_id)
        .outerjoin(
            TAKER,
            and_(TAKER.request_id == AdviceRequest.id, TAKER.outcome == OfferOutcome.ACCEPTED),
        )
        .where(AdviceRequest.received_at >= start, AdviceRequest.received_at < end)
        .order_by(AdviceRequest.received_at, AdviceRequest.id)
    )
    conditions = {
        "area": AdviceRequest.area == filters.area,
        "channel": AdviceRequest.channel == filters.channel,
        "clinician_id": TAKER.clinician_id == filters.clinician_id,
        "rcrp_phase": AdviceRequest.rcrp_phase == filters.rcrp_phase,
        "age_band": AdviceRequest.subject_age_band == filters.age_band,
        "force": force_of_request == filters.force,
    }
    for name, condition in conditions.items():
        if getattr(filters, name) is not None:
            query = query.where(condition)
    return query


@dataclass
class Detentions:
    """Detentions the officers reported, followed through (see the module's definitions)."""

    reported: int = 0
    arrived: int = 0
    awaiting_handover: int = 0
    median_handover_minutes: float | None = None
    p90_handover_minutes: float | None = None
    handed_over_within_hour: int = 0
    handed_over_within_hour_percent: float | None = None
    past_limit_ended: int = 0
    past_limit_running: int = 0
    #: advice outcome -> where the person went -> requests
    where_people_went: dict[str, dict[str, int]] = field(default_factory=dict)


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
    nuisance: int = 0
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
    detentions: Detentions = field(default_factory=Detentions)


def _epoch_hour(moment: datetime) -> int:
    return int(moment.timestamp()) // 3600


def fact_conditions(filters: Filters) -> list[Any]:
    """Which facts a dashboard covers (a London midnight always falls on a UTC hour)."""
    start, end = filters.utc_range()
    f = RequestFact
    conditions = [f.received_hour >= _epoch_hour(start), f.received_hour < _epoch_hour(end)]
    for name in ("force", "area", "channel", "clinician_id", "rcrp_phase", "age_band"):
        value = getattr(filters, name)
        if value is not None:
            conditions.append(getattr(f, name) == value)
    return conditions


def _percentiles(histogram: dict[float, int]) -> tuple[float | None, float | None]:
    """Median and nearest-rank 90th percentile from value counts."""
    total = sum(histogram.values())
    if not total:
        return None, None
    ordered = sorted(histogram.items())

    def value_at(rank: int) -> float:  # 1-based
        seen = 0
        for value, count in ordered:
            seen += count
            if seen >= rank:
                return value
        return ordered[-1][0]

    middle = (
        value_at(total // 2 + 1)
        if total % 2
        else (value_at(total // 2) + value_at(total // 2 + 1)) / 2
    )
    return middle, value_at(max(1, math.ceil(0.9 * total)))


def dashboard(session: Session, filters: Filters, *, now: datetime | None = None) -> Dashboard:
    """Compute the dashboard with six grouped queries over the covered requests' facts.

    ``now`` (the present by default) decides which running detentions are past their limit.
    """
    facts.bring_up_to_date(session)
    conditions = fact_conditions(filters)
    board = Dashboard()
    _volumes(session, board, conditions)
    f = RequestFact
    histogram = {
        tenths / 10: n
        for tenths, n in session.execute(
            select(f.answer_tenths, func.count()).where(*conditions).group_by(f.answer_tenths)
        )
        if tenths is not None
    }
    board.median_answer_seconds, board.p90_answer_seconds = _percentiles(histogram)
    advice = _advice_rows(session, conditions)
    _advice(board, advice)
    _call_backs(session, board, conditions)
    detained = [*conditions, f.detained == 1]
    _handovers(session, board.detentions, detained, now or utcnow())
    _where_people_went(session, board.detentions, detained, advice)
    return board


def _volumes(session: Session, board: Dashboard, conditions: list[Any]) -> None:
    """Totals, London hours, weekdays and weeks from one count per UTC hour of arrival."""
    f = RequestFact
    rows = (
        session.connection()
        .execute(
            select(
                f.received_hour,
                func.count(),
                func.sum(f.queued),
                func.count(f.answer_tenths),
                func.sum(f.abandoned),
                func.sum(f.nuisance),
                *(func.sum(case((f.answer_tenths <= t * 10, 1), else_=0)) for t in TARGETS),
            )
            .where(*conditions)
            .group_by(f.received_hour)
        )
        .all()
    )
    weeks: dict[date, list[int]] = {}
    for hour, count, queued, _answered, _abandoned, _nuisance, within, *_ in rows:
        local = datetime.fromtimestamp(hour * 3600, LONDON)
        weekday = local.weekday()
        board.by_hour[local.hour] += count
        board.by_weekday[weekday] += count
        week = weeks.setdefault(local.date() - timedelta(days=weekday), [0, 0, 0])
        week[0] += count
        week[1] += queued
        week[2] += within
    totals = [sum(column) for column in zip(*rows, strict=True)] or [0] * (6 + len(TARGETS))
    _, board.volume, board.queued, board.answered, board.abandoned, board.nuisance, *hits = totals
    board.answered_within = {t: share(n, board.queued) for t, n in zip(TARGETS, hits, strict=True)}
    board.abandonment_rate = share(board.abandoned, board.queued)
    board.by_week = {
        week.isoformat(): {"volume": volume, "answered_within_30_percent": share(within, queued)}
        for week, (volume, queued, within) in sorted(weeks.items())
    }


def _decision_key(decision: str) -> str:
    if not decision:
        return "not reported"
    return "detained" if decision == OfficerDecision.DETAINED else "not detained"


#: One group of completed records: outcome, route, decision, age band, sex, ethnicity, count.
AdviceRow = tuple[str, str, str, str, str, str, int]


def _advice_rows(session: Session, conditions: list[Any]) -> list[AdviceRow]:
    f = RequestFact
    rows = session.execute(
        select(f.advice, func.count()).where(*conditions, f.advice.is_not(None)).group_by(f.advice)
    )
    return [cast(AdviceRow, (*str(advice).split(ADVICE_SEPARATOR), n)) for advice, n in rows]


def _advice(board: Dashboard, rows: list[AdviceRow]) -> None:
    outcomes: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    table: dict[str, Counter[str]] = defaultdict(Counter)
    groups: dict[str, dict[str, Counter[str]]] = {
        "age band": defaultdict(Counter),
        "sex": defaultdict(Counter),
        "ethnicity": defaultdict(Counter),
    }
    for outcome, route, decision, age_band, sex, ethnicity, n in rows:
        advised_s136 = outcome == OutcomeCode.S136_ADVISED
        if outcome:
            outcomes[outcome] += n
        if route:
            routes[route] += n
        table["s136 advised" if advised_s136 else "not advised"][_decision_key(decision)] += n
        for dimension, value in (("age band", age_band), ("sex", sex), ("ethnicity", ethnicity)):
            counter = groups[dimension][value or "not recorded"]
            counter["advised"] += n
            counter["s136"] += n if advised_s136 else 0
            counter["reported"] += n if decision else 0
            counter["detained"] += n if decision == OfficerDecision.DETAINED else 0
    board.outcomes = dict(outcomes.most_common())  # largest first
    board.community_routes = dict(routes.most_common())
    board.advice_against_decision = {k: dict(v) for k, v in sorted(table.items())}
    board.equality = {
        dimension: {
            group: {
                "advised": g["advised"],
                "s136_advised_percent": share(g["s136"], g["advised"]),
                "detained_percent_of_reported": share(g["detained"], g["reported"]),
            }
            for group, g in sorted(values.items())
        }
        for dimension, values in groups.items()
    }


def _call_backs(session: Session, board: Dashboard, conditions: list[Any]) -> None:
    f = RequestFact
    rows = session.execute(
        select(f.call_back_minutes, func.count(), func.sum(f.call_backs_open))
        .where(*conditions, f.abandoned == 1)
        .group_by(f.call_back_minutes)
    )
    histogram: dict[float, int] = {}
    for minutes, count, still_open in rows:
        board.call_backs_outstanding += still_open
        if minutes is not None:
            histogram[float(minutes)] = count
    board.median_call_back_minutes = _percentiles(histogram)[0]


def _handovers(session: Session, board: Detentions, detained: list[Any], now: datetime) -> None:
    """Counts, minutes from arrival to handover, and detentions past their limit."""
    f = RequestFact
    rows = session.execute(
        select(
            f.arrived,
            f.handover_minutes,
            func.count(),
            func.sum(f.past_limit),
            func.sum(case((f.must_end_by < int(now.timestamp()), 1), else_=0)),
        )
        .where(*detained)
        .group_by(f.arrived, f.handover_minutes)
    )
    histogram: dict[float, int] = {}
    for arrived, minutes, count, ended_late, running_late in rows:
        board.reported += count
        board.past_limit_ended += ended_late
        board.past_limit_running += running_late
        if not arrived:
            continue
        board.arrived += count
        if minutes is None:
            board.awaiting_handover += count
            continue
        histogram[float(minutes)] = count
        board.handed_over_within_hour += count if minutes <= HANDOVER_TARGET_MINUTES else 0
    board.median_handover_minutes, board.p90_handover_minutes = _percentiles(histogram)
    board.handed_over_within_hour_percent = share(board.handed_over_within_hour, board.arrived)


def _where_people_went(
    session: Session, board: Detentions, detained: list[Any], advice: list[AdviceRow]
) -> None:
    """Per advice outcome: the place used for detentions, else the route or the decision."""
    where: dict[str, Counter[str]] = defaultdict(Counter)
    for outcome, route, decision, *_, n in advice:
        if decision != OfficerDecision.DETAINED:
            where[outcome][f"community: {route}" if route else _decision_key(decision)] += n
    f = RequestFact
    for key, place, n in session.execute(
        select(f.advice, f.place_used, func.count())
        .where(*detained, f.advice.is_not(None))
        .group_by(f.advice, f.place_used)
    ):
        outcome = str(key).split(ADVICE_SEPARATOR)[0]
        where[outcome][f"detained: {place or 'place not recorded'}"] += n
    board.where_people_went = {
        outcome: dict(sorted(places.items())) for outcome, places in sorted(where.items())
    }


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
