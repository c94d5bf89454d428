"""Retention by the NHS Records Management Code of Practice (2023).

The line's records are mental-health records; the Code's schedule, as applied here (the
periods are settings: ``RETENTION_ADULT_YEARS``, ``RETENTION_CHILD_YEARS``,
``RETENTION_DEATH_YEARS``):

- **Adults**: 20 years after last contact. Last contact is the latest of the request's
  end (closed, abandoned or cancelled; else received), the officer's decision report, the
  detention's times (detained, arrived, extended, handed over, ended) and the completion
  of any of the request's tasks (a follow-up, a safeguarding referral, a call-back): each
  is contact, so each restarts the period.
- **Children** (under 18 by any indicator: the officer's or clinician's answer, the age
  band, the age): until the 25th birthday, the 26th if 17 at the end of care, or the
  adult period if that ends later. The line keeps an age in whole years, not a date of
  birth, so the birthday is estimated from last contact: 25 - age years after it (one
  more at 17); a 4-year-old's record is kept 21 years, a 17-year-old's 20 (the adult
  period is the later). Without an age the longest the birthday rule can need: 25 years.
- **A recorded death**: 8 years after the death. The Code gives mental-health records
  "20 years after last contact, or 8 years after death"; the line reads the death as
  ending the other rules: once a death is recorded the record is kept 8 years from it,
  whether the adult or child period would end sooner or later (a task done after the
  death does not extend it).

What is past its period keeps its statistical fields (dates, channel, outcome, age band,
sex, ethnicity, the detention's decision, times, place and conveyance) and loses
everything that could identify anyone: numbers, collar numbers, places, free text (tasks'
referrals included), the exact age and the date of death, messages, call legs' numbers,
Twilio call SIDs, the links saying two requests concern the same person and call
recordings (deleted from the line's storage); and in the audit log, identifying detail
keys and the Twilio call and message SIDs recorded as events' sources or held in their
details (the audit log's triggers allow exactly that and nothing else).
See docs/DOMAIN.md#retention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from advice_line.audit import Actor, pseudonymise_events, record_event
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    CallLeg,
    Detention,
    Message,
    OutboxItem,
    Recording,
    RecordingStatus,
    SamePersonLink,
    Task,
)
from advice_line.models.base import UTCDateTime
from advice_line.recording_store import RecordingStore
from advice_line.reports import facts

PSEUDONYMISED = "pseudonymised"
# Audit details that could identify someone: the officer's claimed identity, free text.
IDENTIFYING_AUDIT_DETAIL = {
    "request.intake": ("claimed_collar_number", "claimed_force"),
    "request.cancelled": ("reason",),
    "request.nuisance": ("reason",),
    "task.done": ("referral_agency",),
}
CHILD_UNTIL = 18


@dataclass(frozen=True)
class RetentionRules:
    """How long records are kept: years after last contact, or after a recorded death.

    ``child_years`` is the birthday a child's record is kept until (the next one if they
    were 17), and the period when a child's age is not known.
    """

    adult_years: int = 20
    child_years: int = 25
    death_years: int = 8

    def years_at_age(self, age: int) -> int:
        """Years after last contact the record of someone this age is kept."""
        if age >= CHILD_UNTIL:
            return self.adult_years
        until_birthday = self.child_years - age + (1 if age == CHILD_UNTIL - 1 else 0)
        return max(until_birthday, self.adult_years)


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def _latest(
    dialect: str, base: ColumnElement[datetime], *times: ColumnExpressionArgument[datetime | None]
) -> ColumnElement[datetime]:
    """The latest of ``base`` and whichever of ``times`` are set, within one row."""
    if dialect == "sqlite":  # its many-argument max() is NULL as soon as one argument is
        return func.max(base, *(func.coalesce(time, base) for time in times))
    return func.greatest(base, *times, type_=UTCDateTime())  # GREATEST ignores NULLs


def due(session: Session, now: datetime, rules: RetentionRules) -> list[int]:
    """Requests past their keeping period and not yet pseudonymised (one query)."""
    tasks_done = (
        select(Task.request_id, func.max(Task.done_at).label("done_at"))
        .where(Task.request_id.is_not(None))
        .group_by(Task.request_id)
        .subquery()
    )
    last_contact = _latest(
        session.connection().dialect.name,
        func.coalesce(
            AdviceRequest.closed_at,
            AdviceRequest.abandoned_at,
            AdviceRequest.cancelled_at,
            AdviceRequest.received_at,
        ),
        Detention.decision_reported_at,
        Detention.detained_at,
        Detention.arrived_at,
        Detention.extended_at,
        Detention.handed_over_at,
        Detention.ended_at,
        tasks_done.c.done_at,
    )

    def contact_before(years: int) -> ColumnElement[datetime]:
        return literal(_years_before(now, years), UTCDateTime())

    child = or_(
        AdviceRequest.subject_under_18.is_(True),
        AdviceRecord.subject_under_18.is_(True),
        AdviceRequest.subject_age_band == AgeBand.UNDER_18,
    )
    cutoff = case(
        *(
            (AdviceRequest.subject_age == age, contact_before(rules.years_at_age(age)))
            for age in range(CHILD_UNTIL)
            if rules.years_at_age(age) != rules.adult_years
        ),
        (and_(AdviceRequest.subject_age.is_(None), child), contact_before(rules.child_years)),
        else_=contact_before(rules.adult_years),
    )
    died_on = AdviceRequest.subject_died_on
    died_before: date = _years_before(now, rules.death_years).date()
    return list(
        session.scalars(
            select(AdviceRequest.id)
            .select_from(AdviceRequest)
            .outerjoin(Detention, Detention.request_id == AdviceRequest.id)
            .outerjoin(AdviceRecord, AdviceRecord.request_id == AdviceRequest.id)
            .outerjoin(tasks_done, tasks_done.c.request_id == AdviceRequest.id)
            .where(
                or_(
                    and_(died_on.is_not(None), died_on < died_before),
                    and_(died_on.is_(None), last_contact < cutoff),
                )
            )
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
    recordings: RecordingStore,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Strip identifying data from these requests; audit the run; return how many.

    Their recordings are deleted from ``recordings`` first (deleting is repeatable: a run
    that fails after it deletes them again). ``progress`` hears how many requests each
    batch of 500 held, once it is done."""
    audit_events = purged = 0
    for start in range(0, len(request_ids), 500):
        batch = request_ids[start : start + 500]
        twilio_sids = [
            sid
            for sid in session.scalars(
                union(
                    select(CallLeg.call_sid).where(CallLeg.request_id.in_(batch)),
                    select(Message.message_sid).where(Message.request_id.in_(batch)),
                )
            )
            if sid
        ]
        purged += _purge_recordings(session, batch, recordings, twilio_sids)
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
                subject_age=None,
                subject_died_on=None,
            )
        )
        session.execute(
            update(AdviceRecord)
            .where(AdviceRecord.request_id.in_(batch))
            .values(rationale=None, destination=None, follow_up=None, safeguarding={})
        )
        session.execute(
            update(Task)
            .where(Task.request_id.in_(batch))
            .values(
                description=PSEUDONYMISED,
                referral_agency=None,
                referral_reference=None,
                referral_outcome=None,
            )
        )
        session.execute(
            update(CallLeg)
            .where(CallLeg.request_id.in_(batch))
            .values(
                number="",  # the SID stays unique: the leg's own id stands in for it
                call_sid=literal(f"{PSEUDONYMISED}-", String) + cast(CallLeg.id, String),
            )
        )
        # The outbox's settled rows hold numbers and message bodies; they go first (a row
        # refers to its message).
        session.execute(delete(OutboxItem).where(OutboxItem.request_id.in_(batch)))
        session.execute(delete(Message).where(Message.request_id.in_(batch)))
        session.execute(
            delete(SamePersonLink).where(
                or_(
                    SamePersonLink.earlier_request_id.in_(batch),
                    SamePersonLink.later_request_id.in_(batch),
                )
            )
        )
        facts.refresh(session, batch)
        audit_events += pseudonymise_events(
            session, batch, IDENTIFYING_AUDIT_DETAIL, twilio_sids=twilio_sids
        )
        if progress:
            progress(len(batch))
    record_event(
        session,
        actor,
        "retention.pseudonymised",
        now=now,
        detail={
            "requests": len(request_ids),
            "adult_years": rules.adult_years,
            "child_years": rules.child_years,
            "death_years": rules.death_years,
            "first_id": request_ids[0] if request_ids else None,
            "last_id": request_ids[-1] if request_ids else None,
            "audit_details_pseudonymised": audit_events,
            "recordings_purged": purged,
        },
    )
    session.flush()
    return len(request_ids)


def _purge_recordings(
    session: Session, batch: list[int], recordings: RecordingStore, twilio_sids: list[str]
) -> int:
    """Delete the requests' recordings from storage; keep each row, without its SID."""
    found = session.execute(
        select(Recording.id, Recording.recording_sid, Recording.storage_key).where(
            Recording.request_id.in_(batch), Recording.status != RecordingStatus.PURGED
        )
    ).all()
    for _id, sid, key in found:
        twilio_sids.append(sid)
        if key is not None:
            recordings.delete(key)
    session.execute(
        update(Recording)
        .where(Recording.id.in_([row.id for row in found]))
        .values(
            status=RecordingStatus.PURGED,
            storage_key=None,
            recording_sid=literal(f"{PSEUDONYMISED}-", String) + cast(Recording.id, String),
        )
    )
    return len(found)
