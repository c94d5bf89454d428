"""Keep ``request_fact`` in step with the requests it describes (no Flask).

Each ORM flush notes the requests whose request, offers, record, detention or tasks it
wrote; as the
transaction commits (or before a report reads in it) their facts are rewritten once, with
one ``INSERT … SELECT`` upsert that works the figures out in SQL. Bulk writers that bypass
the ORM (``seed-history``, retention) call :func:`refresh` themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, UOWTransaction, aliased

from advice_line.lifecycle.detentions import time_allowed
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Detention,
    Offer,
    OfferOutcome,
    Officer,
    OfficerDecision,
    RecordStatus,
    RequestFact,
    RequestStatus,
    Task,
    TaskKind,
)

ADVICE_SEPARATOR = "|"
_STALE = "advice_line.stale_facts"
_PARTS = (AdviceRecord, Detention, Offer, Task)


def epoch_hour(column: Any, dialect: str) -> Any:
    """Whole hours since the Unix epoch of a UTC time, in SQL."""
    if dialect == "sqlite":
        return sa.cast(func.strftime("%s", column), sa.Integer).op("/")(3600)
    return sa.cast(func.floor(func.extract("epoch", column).op("/")(3600)), sa.Integer)


def epoch_seconds(column: Any, dialect: str) -> Any:
    """Whole seconds since the Unix epoch of a UTC time, in SQL."""
    if dialect == "sqlite":
        return sa.cast(func.strftime("%s", column), sa.BigInteger)
    return sa.cast(func.floor(func.extract("epoch", column)), sa.BigInteger)


def minutes_up(seconds: Any, dialect: str) -> Any:
    """Whole minutes in a time of ``seconds`` (to the millisecond), rounded up, in SQL."""
    if dialect == "sqlite":  # a cast to INTEGER truncates; SQLite may be built without ceil
        return sa.cast((seconds + 59.999) / 60, sa.Integer)
    return sa.cast(func.ceil(seconds / 60), sa.Integer)


def seconds_between(later: Any, earlier: Any, dialect: str) -> Any:
    """Seconds from ``earlier`` to ``later`` to the millisecond, in SQL."""
    if dialect == "sqlite":
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)
    return func.round(func.extract("epoch", later - earlier), 3)


def _text(column: Any) -> Any:
    return func.coalesce(sa.cast(column, sa.String), "")


def facts_query(dialect: str) -> sa.Select[Any]:
    """Every request's fact row, worked out from the request, record and detention."""
    r, record = AdviceRequest, AdviceRecord
    taker = aliased(Offer)
    queued = and_(r.waiting_since.is_not(None), r.status != RequestStatus.CANCELLED)
    # Called back since (docs/DOMAIN.md#tasks) or not, the officer abandoned it.
    abandoned = r.abandoned_at.is_not(None)
    advice_parts = (
        record.outcome,
        record.community_route,
        Detention.decision,
        r.subject_age_band,
        r.subject_sex,
        r.subject_ethnicity,
    )
    advice = _text(advice_parts[0])
    for part in advice_parts[1:]:
        advice = advice + ADVICE_SEPARATOR + _text(part)
    return (
        select(
            *_request_columns(dialect, queued, abandoned, taker),
            case((record.status == RecordStatus.COMPLETE, advice)),
            *_detention_columns(dialect),
            case((r.nuisance_at.is_not(None), 1), else_=0),
        )
        .outerjoin(Officer, Officer.id == r.officer_id)
        .outerjoin(record, record.request_id == r.id)
        .outerjoin(Detention, Detention.request_id == r.id)
        .outerjoin(taker, and_(taker.request_id == r.id, taker.outcome == OfferOutcome.ACCEPTED))
    )


def _request_columns(dialect: str, queued: Any, abandoned: Any, taker: Any) -> tuple[Any, ...]:
    """The request's filters, answer and call-back figures."""
    r = AdviceRequest
    call_backs = select(Task).where(Task.request_id == r.id, Task.kind == TaskKind.CALL_BACK)
    first_call_back = call_backs.with_only_columns(func.min(Task.done_at)).scalar_subquery()
    open_call_backs = (
        call_backs.with_only_columns(func.count()).where(Task.done_at.is_(None)).scalar_subquery()
    )
    return (
        r.id,
        epoch_hour(r.received_at, dialect),
        func.coalesce(Officer.force, r.claimed_force),
        r.area,
        r.channel,
        taker.clinician_id,
        r.rcrp_phase,
        r.subject_age_band,
        case((queued, 1), else_=0),
        case(
            (
                # Not a call-back's taking: the officer was not answered then.
                and_(
                    queued,
                    r.accepted_at.is_not(None),
                    or_(r.abandoned_at.is_(None), r.accepted_at < r.abandoned_at),
                ),
                sa.cast(
                    func.round(seconds_between(r.accepted_at, r.waiting_since, dialect) * 10),
                    sa.Integer,
                ),
            )
        ),
        case((abandoned, 1), else_=0),
        case(
            (
                abandoned,
                func.round(seconds_between(first_call_back, r.abandoned_at, dialect) / 60, 3),
            )
        ),
        case((abandoned, open_call_backs), else_=0),
    )


def _detention_columns(dialect: str) -> tuple[Any, ...]:
    """Whether detained and arrived, handover minutes, the limit (``time_allowed``), place."""
    d = Detention
    policy = RoutingPolicy()  # the limits are the law's, not settings
    allowed = case(
        (d.extended_at.is_not(None), int(time_allowed(policy, extended=True).total_seconds())),
        else_=int(time_allowed(policy, extended=False).total_seconds()),
    )
    arrived = d.arrived_at.is_not(None)
    lasted = seconds_between(d.ended_at, d.arrived_at, dialect)
    return (
        case((d.decision == OfficerDecision.DETAINED, 1), else_=0),
        case((arrived, 1), else_=0),
        case(
            (
                and_(arrived, d.handed_over_at.is_not(None)),
                minutes_up(seconds_between(d.handed_over_at, d.arrived_at, dialect), dialect),
            )
        ),
        case((and_(arrived, lasted > allowed), 1), else_=0),
        case((and_(arrived, d.ended_at.is_(None)), epoch_seconds(d.arrived_at, dialect) + allowed)),
        d.place_of_safety_used,
    )


FACT_COLUMNS = (
    "request_id",
    "received_hour",
    "force",
    "area",
    "channel",
    "clinician_id",
    "rcrp_phase",
    "age_band",
    "queued",
    "answer_tenths",
    "abandoned",
    "call_back_minutes",
    "call_backs_open",
    "advice",
    "detained",
    "arrived",
    "handover_minutes",
    "past_limit",
    "must_end_by",
    "place_used",
    "nuisance",
)


def _upsert(dialect: str, query: sa.Select[Any]) -> Any:
    table = RequestFact.__table__
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    statement = insert.from_select(FACT_COLUMNS, query)
    return statement.on_conflict_do_update(
        index_elements=["request_id"],
        set_={name: statement.excluded[name] for name in FACT_COLUMNS[1:]},
    )


def refresh(session: Session | sa.Connection, request_ids: Collection[int] | None = None) -> None:
    """Rewrite the facts of these requests (of every request when ``None``)."""
    connection = session.connection() if isinstance(session, Session) else session
    dialect = connection.dialect.name
    if request_ids is None:
        # SQLite needs a WHERE before ON CONFLICT to parse an upsert from a SELECT.
        connection.execute(_upsert(dialect, facts_query(dialect).where(sa.true())))
        return
    ids = sorted(set(request_ids))
    statement = _refresh_some(dialect)
    for start in range(0, len(ids), 500):
        connection.execute(statement, {"ids": ids[start : start + 500]})


@functools.cache
def _refresh_some(dialect: str) -> Any:
    """The upsert for a list of request ids, built once (it runs on every commit)."""
    chosen = AdviceRequest.id.in_(sa.bindparam("ids", expanding=True))
    return _upsert(dialect, facts_query(dialect).where(chosen))


def _touched_requests(session: Session) -> set[int]:
    ids: set[int] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, AdviceRequest):
            ids.add(instance.id)
        elif isinstance(instance, _PARTS) and instance.request_id is not None:
            ids.add(instance.request_id)
    return ids


def _note_touched(session: Session, _flush: UOWTransaction) -> None:
    ids = _touched_requests(session)
    if ids:
        session.info.setdefault(_STALE, set()).update(ids)


def bring_up_to_date(session: Session) -> None:
    """Flush, then rewrite the facts of the requests this transaction has changed."""
    session.flush()
    ids = session.info.pop(_STALE, None)
    if ids:
        refresh(session, ids)


def _forget(session: Session) -> None:
    session.info.pop(_STALE, None)


def keep_in_step() -> None:
    """Rewrite the facts a transaction made stale once, as it commits."""
    for name, listener in (
        ("after_flush", _note_touched),
        ("before_commit", bring_up_to_date),
        ("after_rollback", _forget),
    ):
        if not sa.event.contains(Session, name, listener):
            sa.event.listen(Session, name, listener)
