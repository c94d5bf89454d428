"""Retention: a dry run first, then pseudonymisation of exactly what is past its period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from advice_line.audit import SYSTEM, Actor, record_event
from advice_line.extensions import db
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    AuditEvent,
    CallLeg,
    CallStatus,
    Channel,
    Detention,
    LegRole,
    Message,
    Priority,
    RequestStatus,
    Task,
    TaskKind,
)
from advice_line.models import MessageDirection as Direction
from advice_line.retention import PSEUDONYMISED, RetentionRules, due
from tests.builders import add_clinician

#: The rules tests' clock: noon on 29 November 2026. Every date below is counted from it.
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
RULES = RetentionRules()  # 20 years after last contact, the 25th birthday, 8 after death


def on(year: int, month: int = 6, day: int = 1) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


def closed_request(
    session: Session,
    received: datetime,
    *,
    age: int | None = None,
    under_18: bool | None = None,
    band: AgeBand | None = None,
    died_on: date | None = None,
    channel: Channel = Channel.VOICE,
) -> AdviceRequest:
    """A request closed the day it came in, with nothing identifying but a location."""
    request = AdviceRequest(
        channel=channel,
        status=RequestStatus.CLOSED,
        priority=Priority.ROUTINE,
        skills_needed=[],
        received_at=received,
        closed_at=received,
        location="12 Acacia Avenue",
        subject_age=age,
        subject_under_18=under_18,
        subject_age_band=band,
        subject_died_on=died_on,
    )
    session.add(request)
    session.flush()
    return request


def task_done(
    session: Session, request: AdviceRequest, kind: TaskKind, done: datetime | None
) -> None:
    session.add(
        Task(
            kind=kind,
            request_id=request.id,
            description="Ring the ward",
            created_at=request.received_at,
            due_at=request.received_at,
            done_at=done,
        )
    )


def old_request(session: Session, year: int, *, child: bool = False) -> int:
    received = on(year)
    band = AgeBand.UNDER_18 if child else AgeBand.AGE_25_34
    request = closed_request(session, received, band=band, channel=Channel.SMS)
    request.caller_number, request.claimed_collar_number = "+447700900201", "MP1234"
    session.add(
        Message(
            request_id=request.id,
            direction=Direction.INBOUND,
            counterpart="+447700900201",
            body="He is at number 12",
            created_at=received,
        )
    )
    session.commit()
    return request.id


def test_a_dry_run_lists_and_apply_pseudonymises_only_what_is_due(
    app: Flask, session: Session
) -> None:
    this_year = datetime.now(UTC).year
    adult_old = old_request(session, this_year - 21)
    child_kept = old_request(session, this_year - 21, child=True)
    child_old = old_request(session, this_year - 26, child=True)
    recent = old_request(session, this_year - 1)
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["retention"])
    assert dry.exit_code == 0
    assert "2 requests are past their keeping period" in dry.output
    assert "Dry run: nothing changed." in dry.output
    session.rollback()
    assert session.scalar(select(func.count(Message.id))) == 4

    applied = runner.invoke(args=["retention", "--apply"])
    assert "Pseudonymised 2 requests" in applied.output
    session.rollback()
    for request_id in (adult_old, child_old):
        request = session.get_one(AdviceRequest, request_id)
        assert (request.caller_number, request.claimed_collar_number, request.location) == (
            None,
            None,
            PSEUDONYMISED,
        )
        assert request.subject_age_band is not None, "statistics stay"
    for request_id in (child_kept, recent):
        assert session.get_one(AdviceRequest, request_id).caller_number == "+447700900201"
    assert session.scalar(select(func.count(Message.id))) == 2
    run = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.pseudonymised")
    ).one()
    assert run.detail["requests"] == 2

    again = runner.invoke(args=["retention"])
    assert "0 requests are past their keeping period" in again.output


def test_apply_strips_identifying_audit_details_and_the_log_stays_append_only(
    app: Flask, session: Session
) -> None:
    this_year = datetime.now(UTC).year
    due, kept = old_request(session, this_year - 21), old_request(session, this_year - 1)
    for request_id in (due, kept):
        received = session.get_one(AdviceRequest, request_id).received_at
        record_event(
            session,
            SYSTEM,
            "request.intake",
            now=received,
            request_id=request_id,
            detail={"claimed_collar_number": "MP1234", "claimed_force": "Met", "in_dwelling": True},
        )
        record_event(
            session,
            SYSTEM,
            "request.cancelled",
            now=received,
            request_id=request_id,
            detail={"from": "queued", "to": "cancelled", "reason": "Duplicate of Mr Smith's call"},
        )
    session.commit()

    applied = app.test_cli_runner().invoke(args=["retention", "--apply"])
    assert "Pseudonymised 1 requests" in applied.output
    session.rollback()

    def details(request_id: int) -> dict[str, dict[str, object]]:
        events = session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id))
        return {event.action: event.detail for event in events}

    assert details(due) == {
        "request.intake": {"in_dwelling": True},
        "request.cancelled": {"from": "queued", "to": "cancelled"},
    }
    assert details(kept)["request.intake"]["claimed_collar_number"] == "MP1234"
    run = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.pseudonymised")
    ).one()
    assert run.detail["audit_details_pseudonymised"] == 2
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET detail = '{}'"))
    session.expire_all()
    assert details(kept)["request.cancelled"]["reason"] == "Duplicate of Mr Smith's call"


def test_an_adults_record_is_kept_20_years_after_the_last_contact_whatever_it_was(
    app: Flask, session: Session
) -> None:
    received = on(2005)  # 21 and a half years before NOW
    only_the_call = closed_request(session, received)
    follow_up = closed_request(session, received)
    task_done(session, follow_up, TaskKind.FOLLOW_UP, on(2007))  # 19 and a half years ago
    task_done(session, follow_up, TaskKind.CALL_BACK, None)  # still open: no contact
    decision = closed_request(session, received)
    session.add(Detention(request_id=decision.id, decision_reported_at=on(2007), updated_at=NOW))
    handover = closed_request(session, received)
    session.add(
        Detention(
            request_id=handover.id,
            detained_at=received,
            arrived_at=received,
            handed_over_at=on(2006, 12, 1),  # 19 years, 11 months and 28 days ago
            updated_at=NOW,
        )
    )
    safeguarding_long_ago = closed_request(session, received)
    task_done(session, safeguarding_long_ago, TaskKind.SAFEGUARDING, on(2006, 11, 28))
    received_only = AdviceRequest(
        channel=Channel.SMS,
        status=RequestStatus.CANCELLED,
        priority=Priority.ROUTINE,
        skills_needed=[],
        received_at=on(2006, 11, 1),
        cancelled_at=on(2006, 12, 1),  # the end is the contact, not the first message
    )
    session.add(received_only)
    session.commit()

    assert due(session, NOW, RULES) == [only_the_call.id, safeguarding_long_ago.id]
    twenty_years_after_2007 = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
    assert due(session, twenty_years_after_2007, RULES) == [
        only_the_call.id,
        handover.id,
        safeguarding_long_ago.id,
        received_only.id,
    ]
    assert set(due(session, twenty_years_after_2007 + timedelta(seconds=1), RULES)) == {
        only_the_call.id,
        follow_up.id,
        decision.id,
        handover.id,
        safeguarding_long_ago.id,
        received_only.id,
    }


def test_a_childs_record_is_kept_to_the_25th_birthday_or_the_adult_period_if_later(
    app: Flask, session: Session
) -> None:
    four_kept = closed_request(session, on(2006), age=4)  # 25th birthday about June 2027
    four_due = closed_request(session, on(2005), age=4)  # about June 2026
    seventeen_kept = closed_request(session, on(2007), age=17)  # adult rule: June 2027
    seventeen_due = closed_request(session, on(2006), age=17)  # adult rule: June 2026
    adult_aged = closed_request(session, on(2006), age=30)
    flagged_kept = closed_request(session, on(2002), under_18=True)  # age unknown: 25 years
    flagged_due = closed_request(session, on(2001), under_18=True)
    banded_kept = closed_request(session, on(2002), band=AgeBand.UNDER_18)
    clinician_said = closed_request(session, on(2002))
    session.add(
        AdviceRecord(
            request_id=clinician_said.id,
            clinician_id=add_clinician(session).id,
            subject_under_18=True,
            created_at=on(2002),
        )
    )
    session.commit()

    found = due(session, NOW, RULES)
    assert found == [four_due.id, seventeen_due.id, adult_aged.id, flagged_due.id]
    kept = {four_kept.id, seventeen_kept.id, flagged_kept.id, banded_kept.id, clinician_said.id}
    assert not kept & set(found)


def test_at_17_the_record_is_kept_to_the_26th_birthday_when_that_is_later(
    app: Flask, session: Session
) -> None:
    short_adult_period = RetentionRules(adult_years=5)
    seventeen_kept = closed_request(session, on(2018), age=17)  # 26th birthday June 2027
    seventeen_due = closed_request(session, on(2017), age=17)  # June 2026
    sixteen_kept = closed_request(session, on(2018), age=16)  # 25th birthday June 2027
    sixteen_due = closed_request(session, on(2017), age=16)
    adult = closed_request(session, on(2021), age=40)  # five years and a half
    session.commit()

    assert due(session, NOW, short_adult_period) == [seventeen_due.id, sixteen_due.id, adult.id]
    after_both_birthdays = datetime(2027, 6, 2, tzinfo=UTC)
    assert {seventeen_kept.id, sixteen_kept.id} <= set(
        due(session, after_both_birthdays, short_adult_period)
    )


def test_a_recorded_death_keeps_the_record_8_years_from_it_whatever_else_applies(
    app: Flask, session: Session
) -> None:
    long_ago_died_lately = closed_request(session, on(2000), died_on=date(2019, 6, 1))
    lately_died_long_ago = closed_request(session, on(2015), died_on=date(2018, 6, 1))
    child_died = closed_request(session, on(2016), age=4, died_on=date(2018, 11, 28))
    eight_years_today = closed_request(session, on(2016), died_on=date(2018, 11, 29))
    session.commit()

    assert due(session, NOW, RULES) == [lately_died_long_ago.id, child_died.id]
    assert eight_years_today.id in due(session, datetime(2026, 11, 30, tzinfo=UTC), RULES)
    assert long_ago_died_lately.id not in due(session, NOW, RetentionRules(adult_years=1))


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def test_apply_pseudonymises_twilio_sids_in_the_audit_trail_only_for_what_is_due(
    app: Flask, session: Session
) -> None:
    this_year = datetime.now(UTC).year
    due_id, kept_id = old_request(session, this_year - 21), old_request(session, this_year - 1)
    for request_id, n in ((due_id, 1), (kept_id, 2)):
        received = session.get_one(AdviceRequest, request_id).received_at
        session.add(
            CallLeg(
                call_sid=sid("CA", n),
                request_id=request_id,
                role=LegRole.OFFICER,
                number="+447700900201",
                status=CallStatus.COMPLETED,
                created_at=received,
            )
        )
        session.execute(
            update(Message).where(Message.request_id == request_id).values(message_sid=sid("SM", n))
        )
        call = Actor("twilio", source=sid("CA", n))
        for actor, action, detail in (
            (call, "request.intake", {"in_dwelling": True}),
            (
                Actor("twilio", source=sid("SM", n)),
                "message.received",
                {"message_sid": sid("SM", n), "length": 18},
            ),
            (SYSTEM, "request.note", {"note": f"Call {sid('CA', n)} dropped", "ok": False}),
            (Actor("user", None, "192.0.2.7"), "request.viewed", {}),
        ):
            record_event(session, actor, action, now=received, request_id=request_id, detail=detail)
        # A clinician's status as the call ends: no request id, only the CallSid links it.
        record_event(
            session,
            call,
            "clinician.status",
            now=received,
            subject=("clinician", n),
            detail={"from": "on_call", "to": "wrap_up"},
        )
    session.commit()

    applied = app.test_cli_runner().invoke(args=["retention", "--apply"])
    assert "Pseudonymised 1 requests" in applied.output
    session.rollback()

    def events(n: int) -> dict[str, tuple[str | None, dict[str, object]]]:
        request_id = (due_id, kept_id)[n - 1]
        found = session.scalars(
            select(AuditEvent).where(
                or_(
                    AuditEvent.request_id == request_id,
                    and_(AuditEvent.subject_type == "clinician", AuditEvent.subject_id == n),
                )
            )
        )
        return {event.action: (event.source, event.detail) for event in found}

    assert events(1) == {
        "request.intake": (PSEUDONYMISED, {"in_dwelling": True}),
        "message.received": (PSEUDONYMISED, {"length": 18}),
        "request.note": (None, {"ok": False}),
        "clinician.status": (PSEUDONYMISED, {"from": "on_call", "to": "wrap_up"}),
        "request.viewed": ("192.0.2.7", {}),
    }
    assert events(2) == {
        "request.intake": (sid("CA", 2), {"in_dwelling": True}),
        "message.received": (sid("SM", 2), {"message_sid": sid("SM", 2), "length": 18}),
        "request.note": (None, {"note": f"Call {sid('CA', 2)} dropped", "ok": False}),
        "clinician.status": (sid("CA", 2), {"from": "on_call", "to": "wrap_up"}),
        "request.viewed": ("192.0.2.7", {}),
    }
    legs = {leg.request_id: (leg.call_sid, leg.number) for leg in session.scalars(select(CallLeg))}
    assert legs[due_id] == (f"{PSEUDONYMISED}-1", "")
    assert legs[kept_id] == (sid("CA", 2), "+447700900201")
    assert session.scalars(select(Message.message_sid)).all() == [sid("SM", 2)]

    for attack in (
        f"UPDATE audit_event SET source = 'pseudonymised' WHERE source = '{sid('CA', 2)}'",
        f"UPDATE audit_event SET source = '{sid('CA', 1)}' WHERE source = 'pseudonymised'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
            connection.execute(text(attack))
    session.expire_all()
    assert events(2)["request.intake"][0] == sid("CA", 2)


def test_apply_clears_referrals_the_exact_age_and_the_date_of_death(
    app: Flask, session: Session
) -> None:
    this_year = datetime.now(UTC).year
    request = closed_request(
        session, on(this_year - 30), age=40, band=AgeBand.AGE_35_44, died_on=date(2001, 1, 1)
    )
    task = Task(
        kind=TaskKind.SAFEGUARDING,
        request_id=request.id,
        description="Safeguarding: children in the house",
        created_at=request.received_at,
        due_at=request.received_at,
        done_at=request.received_at,
        referral_agency="Camden children's services",
        referral_reference="CS-2001-4411",
        referral_outcome="Referred: Amy (6) and Ben (9) Smith",
    )
    session.add(task)
    record_event(
        session,
        SYSTEM,
        "task.done",
        now=request.received_at,
        request_id=request.id,
        detail={"referral_agency": "Camden children's services"},
    )
    session.commit()

    assert (
        "Pseudonymised 1 requests"
        in app.test_cli_runner().invoke(args=["retention", "--apply"]).output
    )
    session.rollback()
    session.expire_all()
    assert (task.description, task.referral_agency, task.referral_reference) == (
        PSEUDONYMISED,
        None,
        None,
    )
    assert task.referral_outcome is None
    assert (request.subject_age, request.subject_died_on, request.subject_age_band) == (
        None,
        None,
        AgeBand.AGE_35_44,
    )
    done = session.scalars(select(AuditEvent).where(AuditEvent.action == "task.done")).one()
    assert done.detail == {}
