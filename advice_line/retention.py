"""Retention (NHS Records Management Code): pseudonymise what is past its keeping period.

Mental-health records are kept 20 years after last contact. Children's records are kept
until their 25th birthday (26th if 17 at last contact); the line records an age band, not
a date of birth, so an under-18's request is kept 25 years, the longest that rule can
need. Both periods are settings. What is past them keeps its statistical fields (dates,
channel, outcome, age band, sex, ethnicity) and loses everything that could identify
anyone: numbers, collar numbers, places, free text, messages, call legs' numbers, and
the same in audit details (the audit log's triggers allow exactly that and nothing else).
See docs/DOMAIN.md#retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, literal, or_, select, update
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event, remove_detail_keys
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    CallLeg,
    Message,
    Task,
)
from advice_line.models.base import UTCDateTime
from advice_line.reports import facts

PSEUDONYMISED = "pseudonymised"
# Audit details that could identify someone: the officer's claimed identity, free text.
IDENTIFYING_AUDIT_DETAIL = {
    "request.intake": ("claimed_collar_number", "claimed_force"),
    "request.cancelled": ("reason",),
}


@dataclass(frozen=True)
class RetentionRules:
    """How many years after last contact each kind of record is kept."""

    adult_years: int = 20
    child_years: int = 25


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def due(session: Session, now: datetime, rules: RetentionRules) -> list[int]:
    """Requests past their keeping period and not yet pseudonymised."""
    last_contact = func.coalesce(
        AdviceRequest.closed_at,
        AdviceRequest.abandoned_at,
        AdviceRequest.cancelled_at,
        AdviceRequest.received_at,
    )
    child = or_(
        AdviceRequest.subject_under_18.is_(True), AdviceRequest.subject_age_band == AgeBand.UNDER_18
    )
    cutoff = case(
        (child, literal(_years_before(now, rules.child_years), UTCDateTime())),
        else_=literal(_years_before(now, rules.adult_years), UTCDateTime()),
    )
    return list(
        session.scalars(
            select(AdviceRequest.id)
            .where(last_contact < cutoff)
            .where(or_(AdviceRequest.location.is_(None), AdviceRequest.location != PSEUDONYMISED))
            .order_by(AdviceRequest.id)
        )
    )


def pseudonymise(
    session: Session,
    request_ids: list[int],
    *,
    now: datetime,
    actor: Actor,
    rules: RetentionRules,
) -> int:
    """Strip identifying data from these requests; audit the run; return how many."""
    audit_details = 0
    for start in range(0, len(request_ids), 500):
        batch = request_ids[start : start + 500]
        session.execute(
            update(AdviceRequest)
            .where(AdviceRequest.id.in_(batch))
            .values(
                officer_id=None,
                caller_number=None,
                claimed_collar_number=None,
                claimed_force=None,
                incident_ref=None,
                location=PSEUDONYMISED,
                area=None,
            )
        )
        session.execute(
            update(AdviceRecord)
            .where(AdviceRecord.request_id.in_(batch))
            .values(rationale=None, destination=None, follow_up=None, safeguarding={})
        )
        session.execute(
            update(Task).where(Task.request_id.in_(batch)).values(description=PSEUDONYMISED)
        )
        session.execute(update(CallLeg).where(CallLeg.request_id.in_(batch)).values(number=""))
        session.execute(delete(Message).where(Message.request_id.in_(batch)))
        facts.refresh(session, batch)
        audit_details += remove_detail_keys(session, batch, IDENTIFYING_AUDIT_DETAIL)
    record_event(
        session,
        actor,
        "retention.pseudonymised",
        now=now,
        detail={
            "requests": len(request_ids),
            "adult_years": rules.adult_years,
            "child_years": rules.child_years,
            "first_id": request_ids[0] if request_ids else None,
            "last_id": request_ids[-1] if request_ids else None,
            "audit_details_pseudonymised": audit_details,
        },
    )
    session.flush()
    return len(request_ids)
