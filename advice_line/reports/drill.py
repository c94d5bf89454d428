"""The requests behind a dashboard figure (no Flask).

A drill-down is the dashboard's filters (``Filters``) plus what the figure counted: a
measure (queued, answered within 30 s, abandoned…) and the groups a table or chart cut it
by (hour of day, weekday, outcome, the officer's decision, sex…). It reads the same facts
with the same conditions as ``queries.dashboard``, so the list has exactly the requests the
figure counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, false, func, not_, or_, select
from sqlalchemy.orm import Session

from advice_line.clock import LONDON
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Detention,
    OfficerDecision,
    OutcomeCode,
    RequestFact,
)
from advice_line.reports import facts
from advice_line.reports.queries import HANDOVER_TARGET_MINUTES, TARGETS, Filters, fact_conditions

PAGE_SIZE = 50
Row = TypeVar("Row")
NOT_RECORDED = "not_recorded"
f = RequestFact


def _measures() -> dict[str, tuple[str, Callable[[datetime], Any]]]:
    """Each figure's name: its label and its condition (some depend on the present)."""
    detained = f.detained == 1
    found: dict[str, tuple[str, Callable[[datetime], Any]]] = {
        "queued": ("Queued", lambda _: f.queued == 1),
        "answered": ("Answered", lambda _: f.answer_tenths.is_not(None)),
        "abandoned": ("Abandoned", lambda _: f.abandoned == 1),
        "nuisance": ("Nuisance calls closed by a senior", lambda _: f.nuisance == 1),
        "call_back_open": (
            "Call-backs still to make",
            lambda _: and_(f.abandoned == 1, f.call_backs_open > 0),
        ),
        "advised": ("Advice completed", lambda _: f.advice.is_not(None)),
        "detained": ("Detentions reported", lambda _: detained),
        "arrived": ("Arrived at a place of safety", lambda _: and_(detained, f.arrived == 1)),
        "awaiting_handover": (
            "No handover recorded yet",
            lambda _: and_(detained, f.arrived == 1, f.handover_minutes.is_(None)),
        ),
        "handed_over_within_hour": (
            "Handed over within an hour of arrival",
            lambda _: and_(detained, f.handover_minutes <= HANDOVER_TARGET_MINUTES),
        ),
        "past_limit_ended": ("Ended after the limit", lambda _: and_(detained, f.past_limit == 1)),
        "past_limit_running": (
            "Running past the limit now",
            lambda now: and_(detained, f.must_end_by < int(now.timestamp())),
        ),
    }
    for target in TARGETS:
        found[f"within_{target}"] = (f"Answered within {target} s", _within(target))
    return found


def _within(seconds: int) -> Callable[[datetime], Any]:
    return lambda _: f.answer_tenths <= seconds * 10


MEASURES = _measures()
#: The officer's decision as the dashboard groups it.
DECISIONS = {
    "detained": "Detained",
    "not_detained": "Not detained",
    "not_reported": "Not reported",
    "not_detained_or_not_reported": "Not detained, or not reported",
}


@dataclass(frozen=True)
class Drill:
    """What a figure counted, beyond the dashboard's filters (None: any)."""

    measure: str | None = None
    hour: int | None = None  # London hour of day
    weekday: int | None = None  # 0 Monday
    outcome: str | None = None
    s136_advised: bool | None = None
    community_route: str | None = None
    decision: str | None = None
    place_used: str | None = None
    groups: dict[str, str] = field(default_factory=dict)  # sex, ethnicity, age group


def _hours(filters: Filters, keep: Callable[[datetime], bool]) -> Any:
    """The arrival hours of the period whose London time ``keep`` chooses, in SQL."""
    start, end = filters.utc_range()
    first, last = int(start.timestamp()) // 3600, int(end.timestamp()) // 3600
    chosen = [h for h in range(first, last) if keep(datetime.fromtimestamp(h * 3600, LONDON))]
    runs: list[list[int]] = []
    for hour in chosen:
        if runs and runs[-1][1] == hour - 1:
            runs[-1][1] = hour
        else:
            runs.append([hour, hour])
    singles = [a for a, b in runs if a == b]
    spans = [f.received_hour.between(a, b) for a, b in runs if a != b]
    parts = ([f.received_hour.in_(singles)] if singles else []) + spans
    return or_(*parts) if parts else false()


def _nullable(column: Any, value: str) -> Any:
    """``column`` is ``value``, or is empty when the value is "not recorded"."""
    if value == NOT_RECORDED:
        return column.is_(None)
    return column == value


def _decision(value: str) -> Any:
    reported = Detention.decision.is_not(None)
    return {
        "detained": Detention.decision == OfficerDecision.DETAINED,
        "not_detained": Detention.decision == OfficerDecision.NOT_DETAINED,
        "not_reported": not_(reported),
        "not_detained_or_not_reported": or_(
            not_(reported), Detention.decision != OfficerDecision.DETAINED
        ),
    }[value]


def drill_conditions(filters: Filters, drill: Drill, now: datetime) -> list[Any]:
    """The dashboard's conditions and the figure's own."""
    found = fact_conditions(filters)
    r, record = AdviceRequest, AdviceRecord
    if drill.measure:
        found.append(MEASURES[drill.measure][1](now))
    if drill.hour is not None:
        found.append(_hours(filters, lambda moment: moment.hour == drill.hour))
    if drill.weekday is not None:
        found.append(_hours(filters, lambda moment: moment.weekday() == drill.weekday))
    advised = f.advice.is_not(None)
    if drill.outcome:
        found += [advised, record.outcome == drill.outcome]
    if drill.s136_advised is not None:
        s136 = record.outcome == OutcomeCode.S136_ADVISED
        found += [
            advised,
            s136 if drill.s136_advised else or_(record.outcome.is_(None), not_(s136)),
        ]
    if drill.community_route:
        found += [advised, _nullable(record.community_route, drill.community_route)]
    if drill.decision:
        found += [advised, _decision(drill.decision)]
    if drill.place_used:
        found += [f.detained == 1, _nullable(f.place_used, drill.place_used)]
    columns = {"sex": r.subject_sex, "ethnicity": r.subject_ethnicity, "age": r.subject_age_band}
    for name, value in drill.groups.items():
        found += [advised, _nullable(columns[name], value)]
    return found


def _query(filters: Filters, drill: Drill, now: datetime) -> Any:
    return (
        select(AdviceRequest, RequestFact, AdviceRecord.outcome)
        .join(RequestFact, RequestFact.request_id == AdviceRequest.id)
        .outerjoin(AdviceRecord, AdviceRecord.request_id == AdviceRequest.id)
        .outerjoin(Detention, Detention.request_id == AdviceRequest.id)
        .where(*drill_conditions(filters, drill, now))
    )


@dataclass(frozen=True)
class RequestPage(Generic[Row]):
    """One page of a list of requests (the requests behind a figure, a search's)."""

    rows: list[Row]
    total: int
    page: int
    pages: int


def page_of(session: Session, query: Any, order: Sequence[Any], *, page: int) -> RequestPage[Any]:
    """The ``page``-th ``PAGE_SIZE`` rows of ``query`` in ``order``, with the total."""
    total = session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    rows = session.execute(
        query.order_by(*order).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).all()
    return RequestPage(rows=list(rows), total=total, page=min(page, pages), pages=pages)


def requests_behind(
    session: Session, filters: Filters, drill: Drill, *, page: int, now: datetime
) -> RequestPage[tuple[AdviceRequest, RequestFact, OutcomeCode | None]]:
    """The requests a figure counted, oldest first, ``PAGE_SIZE`` a page."""
    facts.bring_up_to_date(session)
    order = (AdviceRequest.received_at, AdviceRequest.id)
    return page_of(session, _query(filters, drill, now), order, page=page)


def where_params(outcome: str, went: str) -> dict[str, str]:
    """The drill-down of one cell of 'where people went' (``queries._where_people_went``)."""
    kind, _, rest = went.partition(": ")
    if kind == "community":
        return {
            "outcome": outcome,
            "community_route": rest,
            "decision": "not_detained_or_not_reported",
        }
    if kind == "detained":
        return {
            "outcome": outcome,
            "place_used": NOT_RECORDED if rest == "place not recorded" else rest,
        }
    decision = "not_detained" if kind == "not detained" else "not_reported"
    return {"outcome": outcome, "decision": decision, "community_route": NOT_RECORDED}
