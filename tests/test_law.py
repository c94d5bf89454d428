"""The law on the merged facts, who may advise, the detention and safeguarding, in the domain.

Every rule here is checked on both databases; the channels that feed these facts are
tested in the telephony and console tests.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.clock import london_moment
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotQualified
from advice_line.lifecycle.law import POLICE_STATION_CONDITIONS
from advice_line.lifecycle.policy import parse_professions
from advice_line.lifecycle.qualification import check_registration, is_qualifying
from advice_line.lifecycle.tasks import CHILD_SAFEGUARDING
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    AuditEvent,
    Clinician,
    Conveyance,
    Detention,
    OfficerDecision,
    OutcomeCode,
    PlaceOfSafety,
    PlaceOfSafetyUsed,
    PoliceVehicleReason,
    Profession,
    RegistrationBody,
    ReportedVia,
    RequestStatus,
    Task,
    TaskKind,
    Timer,
    TimerKind,
)
from advice_line.routing.engine import dispatch
from advice_line.routing.scheduler import Scheduler
from advice_line.routing.views import count_available
from tests.builders import ACTOR, POLICY, T0, add_clinician, add_request, complete_input, wrapped_up

S136 = {"outcome": OutcomeCode.S136_ADVISED, "community_route": None, "destination": None}
HEALTH_BASED = {**S136, "place_of_safety": PlaceOfSafety.HEALTH_BASED}
POLICE_STATION = {**S136, "place_of_safety": PlaceOfSafety.POLICE_STATION}
ALL_CONDITIONS = dict.fromkeys(POLICE_STATION_CONDITIONS, True)


def _complete(
    session: Session, request: AdviceRequest, clinician_id: int, **changes: Any
) -> dict[str, str]:
    """Try to complete the record; return the errors (empty when it was completed)."""
    policy = changes.pop("policy", POLICY)
    try:
        lifecycle.complete_record(
            session,
            request.id,
            clinician_id,
            complete_input(**changes),
            now=T0,
            actor=ACTOR,
            policy=policy,
        )
    except InvalidInput as refused:
        session.rollback()
        return refused.errors
    session.commit()
    return {}


# --- the key facts and the law ---------------------------------------------------------


@pytest.mark.parametrize(
    ("officer_said", "clinician_says", "refused"),
    [
        (True, None, True),  # the officer's answer stands
        (False, True, True),  # the clinician's correction wins
        (True, False, False),  # corrected: not a dwelling after all
        (False, None, False),
    ],
)
def test_s136_is_refused_in_a_private_dwelling_on_the_merged_facts(
    session: Session, officer_said: bool, clinician_says: bool | None, refused: bool
) -> None:
    request, clinician_id = wrapped_up(session, in_dwelling=officer_said)
    errors = _complete(session, request, clinician_id, in_dwelling=clinician_says, **HEALTH_BASED)
    assert ("s136(1A)" in errors.get("outcome", "")) is refused
    assert session.get_one(AdviceRequest, request.id).status == (
        RequestStatus.WRAP_UP if refused else RequestStatus.CLOSED
    )


def test_s136_asks_about_the_dwelling_when_nobody_answered(session: Session) -> None:
    request, clinician_id = wrapped_up(session, in_dwelling=None)
    errors = _complete(session, request, clinician_id, **HEALTH_BASED)
    assert "private dwelling" in errors["in_dwelling"]
    assert _complete(session, request, clinician_id, in_dwelling=False, **HEALTH_BASED) == {}


@pytest.mark.parametrize(
    ("request_options", "record_changes"),
    [
        ({"under_18": True}, {}),
        ({}, {"subject_under_18": True}),
        ({}, {"subject_age_band": AgeBand.UNDER_18}),
        ({}, {"subject_age": 16, "subject_age_band": AgeBand.UNDER_18}),
        ({}, {"subject_age": 17}),
    ],
    ids=["officer-flag", "clinician-correction", "age-band", "age-and-band", "age"],
)
def test_a_police_station_is_refused_for_a_child_by_any_indicator(
    session: Session, request_options: dict[str, Any], record_changes: dict[str, Any]
) -> None:
    request, clinician_id = wrapped_up(session, **request_options)
    errors = _complete(
        session, request, clinician_id, **POLICE_STATION, **ALL_CONDITIONS, **record_changes
    )
    assert "s136A" in errors["place_of_safety"]


def test_an_adult_police_station_needs_every_condition_the_officer_gives(
    session: Session,
) -> None:
    request, clinician_id = wrapped_up(session)
    for missing in POLICE_STATION_CONDITIONS:
        given = {**ALL_CONDITIONS, missing: False}
        errors = _complete(session, request, clinician_id, **POLICE_STATION, **given)
        assert POLICE_STATION_CONDITIONS[missing] in errors["police_station_conditions"]
    assert _complete(session, request, clinician_id, **POLICE_STATION, **ALL_CONDITIONS) == {}


def test_a_setting_forbids_police_stations_for_everyone(session: Session) -> None:
    request, clinician_id = wrapped_up(session)
    strict = replace(POLICY, police_stations_allowed=False)
    errors = _complete(
        session, request, clinician_id, policy=strict, **POLICE_STATION, **ALL_CONDITIONS
    )
    assert "settings do not allow" in errors["place_of_safety"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({**HEALTH_BASED, "community_route": "crisis_team"}, "community_route"),
        ({"place_of_safety": PlaceOfSafety.HEALTH_BASED}, "place_of_safety"),
        (
            {"outcome": OutcomeCode.MEDICAL_EMERGENCY, "destination": "A&E by ambulance"},
            "community_route",
        ),
        ({"subject_under_18": False, "subject_age": 15}, "subject_under_18"),
        ({"subject_age": 30, "subject_age_band": AgeBand.AGE_18_24}, "subject_age_band"),
        ({"subject_age": 130}, "subject_age"),
        ({"follow_up": "Ring the cafe"}, "follow_up_due_at"),
        (
            {"follow_up": "Ring the cafe", "follow_up_due_at": T0 - timedelta(minutes=1)},
            "follow_up_due_at",
        ),
    ],
    ids=[
        "s136-with-route",
        "route-with-place",
        "other-with-route",
        "not-child-but-15",
        "age-outside-band",
        "age-out-of-range",
        "follow-up-without-due",
        "follow-up-due-past",
    ],
)
def test_a_record_that_contradicts_itself_is_refused_and_nothing_is_kept(
    session: Session, changes: dict[str, Any], field: str
) -> None:
    request, clinician_id = wrapped_up(session)
    tasks_before = session.scalar(select(func.count(Task.id)))
    assert field in _complete(session, request, clinician_id, **changes)
    assert session.get_one(AdviceRequest, request.id).status == RequestStatus.WRAP_UP
    assert session.scalar(select(func.count(Task.id))) == tasks_before


def test_call_incomplete_asks_only_what_can_be_known(session: Session) -> None:
    request, clinician_id = wrapped_up(session)
    errors = _complete(
        session,
        request,
        clinician_id,
        outcome=OutcomeCode.CALL_INCOMPLETE,
        community_route=None,
        destination=None,
        rationale=None,
        safeguarding={},
    )
    assert errors == {}


def test_safeguarding_accepts_not_known_but_not_silence(session: Session) -> None:
    request, clinician_id = wrapped_up(session)
    answers: dict[str, bool | None] = dict.fromkeys(lifecycle.SAFEGUARDING_QUESTIONS, None)
    partial = {k: v for k, v in answers.items() if k != "looked_after_child"}
    refused = _complete(session, request, clinician_id, safeguarding=partial)
    assert refused == {"looked_after_child": "Answer yes, no or not known."}, "at its question"
    assert _complete(session, request, clinician_id, safeguarding=answers) == {}
    assert (
        session.scalar(select(func.count(Task.id)).where(Task.kind == TaskKind.SAFEGUARDING)) == 0
    )


# --- who gave the advice ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("profession", "body", "number", "accepted"),
    [
        (Profession.DOCTOR, RegistrationBody.GMC, "7012345", "7012345"),
        (Profession.DOCTOR, RegistrationBody.GMC, "701234", None),
        (Profession.DOCTOR, RegistrationBody.NMC, "12A3456E", None),
        (Profession.NURSE, RegistrationBody.NMC, "12a 3456 e", "12A3456E"),
        (Profession.NURSE, RegistrationBody.NMC, "1234567", None),
        (Profession.AMHP, RegistrationBody.SWE, "SW123456", "SW123456"),
        (Profession.AMHP, RegistrationBody.HCPC, "OT12345", "OT12345"),
        (Profession.PARAMEDIC, RegistrationBody.HCPC, "PA12345", "PA12345"),
        (Profession.PARAMEDIC, RegistrationBody.HCPC, "OT12345", None),
        (Profession.OCCUPATIONAL_THERAPIST, RegistrationBody.HCPC, "OT54321", "OT54321"),
        (Profession.SUPPORT_WORKER, RegistrationBody.HCPC, "PA12345", None),
    ],
)
def test_registration_numbers_are_checked_by_their_body_s_format(
    profession: Profession, body: RegistrationBody, number: str, accepted: str | None
) -> None:
    if accepted is None:
        with pytest.raises(InvalidInput):
            check_registration(profession, body, number)
    else:
        assert check_registration(profession, body, number) == (body, accepted)


@pytest.mark.parametrize("number", ["", "   ", "not-a-number", "12A3456"])
def test_the_engine_and_the_lifecycle_agree_on_who_qualifies(session: Session, number: str) -> None:
    nurse = add_clinician(session, profession=Profession.NURSE)
    nurse.registration_number = number
    request = add_request(session)
    session.commit()
    assert not is_qualifying(nurse, POLICY, now=T0)
    assert count_available(session, now=T0, policy=POLICY) == 0
    assert dispatch(session, now=T0, policy=POLICY, actor=ACTOR) == []
    with pytest.raises(NotQualified):
        lifecycle.accept(session, request.id, nurse.id, now=T0, actor=ACTOR, policy=POLICY)


def test_only_the_professions_the_regulations_name_can_qualify() -> None:
    assert parse_professions("doctor, nurse") == ("doctor", "nurse")
    for outside in ("psychologist", "support_worker", "doctor,psychologist"):
        with pytest.raises(ValueError, match="2017 Regulations"):
            parse_professions(outside)


def test_completing_the_record_keeps_who_gave_the_advice(session: Session) -> None:
    request, clinician_id = wrapped_up(session)
    assert _complete(session, request, clinician_id) == {}
    record = session.scalars(select(AdviceRecord)).one()
    clinician = session.get_one(Clinician, clinician_id)
    assert (
        record.given_by_profession,
        record.given_by_registration_body,
        record.given_by_registration_number,
    ) == ("nurse", "NMC", clinician.registration_number)
    clinician.registration_number = "99Z9999Z"  # a later change does not rewrite history
    session.commit()
    session.refresh(record)
    assert record.given_by_registration_number != "99Z9999Z"


# --- safeguarding that does not depend on one answer -----------------------------------


def _child_tasks(session: Session, request_id: int) -> int:
    return (
        session.scalar(
            select(func.count(Task.id)).where(
                Task.request_id == request_id, Task.description == CHILD_SAFEGUARDING
            )
        )
        or 0
    )


def test_a_child_request_gets_one_team_safeguarding_task_answered_or_abandoned(
    session: Session,
) -> None:
    answered, clinician_id = wrapped_up(session, under_18=True)
    assert _child_tasks(session, answered.id) == 1, "from the officer's answer, at queueing"
    assert _complete(session, answered, clinician_id, subject_age_band=AgeBand.UNDER_18) == {}
    assert _child_tasks(session, answered.id) == 1, "and only once"
    abandoned = add_request(session, queue=False)
    lifecycle.record_intake(
        session,
        abandoned.id,
        lifecycle.IntakeAnswers(subject_under_18=True),
        now=T0,
        actor=ACTOR,
    )
    lifecycle.abandon(session, abandoned.id, now=T0, actor=ACTOR, policy=POLICY)
    assert _child_tasks(session, abandoned.id) == 1
    by_age, clinician_id = wrapped_up(session)
    assert _child_tasks(session, by_age.id) == 0
    assert (
        _complete(session, by_age, clinician_id, subject_age=15, subject_age_band=AgeBand.UNDER_18)
        == {}
    )
    assert _child_tasks(session, by_age.id) == 1
    owners = session.scalars(select(Task.owner_user_id).where(Task.kind == TaskKind.SAFEGUARDING))
    assert set(owners) == {None}


def test_any_clinician_finishes_a_team_task_and_a_referral_is_recorded(
    session: Session,
) -> None:
    request = add_request(session, under_18=True)
    task = session.scalars(select(Task).where(Task.request_id == request.id)).one()
    first, second = add_clinician(session), add_clinician(session)
    lifecycle.take_task(session, task.id, first.user_id, now=T0, actor=ACTOR)
    with pytest.raises(InvalidInput) as caught:
        lifecycle.complete_task(session, task.id, second.user_id, now=T0, actor=ACTOR)
    assert "referral_outcome" in caught.value.errors
    done = lifecycle.complete_task(
        session,
        task.id,
        second.user_id,
        now=T0,
        actor=ACTOR,
        referral=lifecycle.Referral("Lambeth children's services", "CS-42", "Referred by phone"),
    )
    assert (done.done_by_user_id, done.referral_reference) == (second.user_id, "CS-42")
    with pytest.raises(IllegalTransition):
        lifecycle.take_task(session, task.id, first.user_id, now=T0, actor=ACTOR)


# --- the officer's decision and the detention ------------------------------------------


def _decisions(session: Session, request_id: int) -> list[dict[str, Any]]:
    return [
        e.detail
        for e in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.request_id == request_id, AuditEvent.action.like("detention.%"))
            .order_by(AuditEvent.id)
        )
    ]


@pytest.mark.parametrize("when", ["before", "during", "after"])
def test_the_officer_s_decision_is_kept_whenever_it_comes(session: Session, when: str) -> None:
    request = add_request(session)
    clinician = add_clinician(session)

    def report(decision: OfficerDecision) -> None:
        lifecycle.report_decision(
            session, request.id, decision, via=ReportedVia.SMS, now=T0, actor=ACTOR
        )

    if when == "before":
        report(OfficerDecision.NOT_DETAINED)
    lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    lifecycle.connect(session, request.id, now=T0, actor=ACTOR)
    if when == "during":
        report(OfficerDecision.NOT_DETAINED)
    lifecycle.end_call(session, request.id, now=T0, actor=ACTOR)
    assert _complete(session, request, clinician.id) == {}
    if when == "after":
        report(OfficerDecision.NOT_DETAINED)
    report(OfficerDecision.DETAINED)  # a correction
    detention = session.scalars(select(Detention)).one()
    assert detention.decision == OfficerDecision.DETAINED
    changes = [d["decision"] for d in _decisions(session, request.id)]
    assert changes == [
        {"from": None, "to": "not_detained"},
        {"from": "not_detained", "to": "detained"},
    ]


def test_the_detention_clock_runs_from_arrival_and_warns_before_it_ends(
    session: Session,
) -> None:
    request = add_request(session)
    lifecycle.record_detention(
        session,
        request.id,
        lifecycle.DetentionReport(
            detained_at=T0,
            arrived_at=T0 + timedelta(minutes=40),
            place_of_safety_used=PlaceOfSafetyUsed.HEALTH_BASED,
            conveyance=Conveyance.AMBULANCE,
        ),
        via=ReportedVia.CLINICIAN,
        now=T0 + timedelta(hours=1),
        actor=ACTOR,
        policy=POLICY,
    )
    arrival = T0 + timedelta(minutes=40)
    assert [
        tuple(t)
        for t in session.execute(
            select(Timer.kind, Timer.due_at)
            .where(Timer.kind.in_([TimerKind.DETENTION_WARNING, TimerKind.DETENTION_LIMIT]))
            .order_by(Timer.due_at)
        )
    ] == [
        (TimerKind.DETENTION_WARNING, arrival + timedelta(hours=22)),
        (TimerKind.DETENTION_LIMIT, arrival + timedelta(hours=24)),
    ]
    detention = session.scalars(select(Detention)).one()
    assert detention.decision == OfficerDecision.DETAINED, "times imply the detention"
    lifecycle.extend_detention(
        session,
        request.id,
        via=ReportedVia.SENIOR,
        now=T0 + timedelta(hours=20),
        actor=ACTOR,
        policy=POLICY,
    )
    with pytest.raises(IllegalTransition):
        lifecycle.extend_detention(
            session, request.id, via=ReportedVia.SENIOR, now=T0, actor=ACTOR, policy=POLICY
        )


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (
            {"detained_at": T0, "arrived_at": T0 - timedelta(minutes=1)},
            "arrived_at",
        ),
        ({"handed_over_at": T0}, "arrived_at"),
        ({"arrived_at": T0 + timedelta(hours=2)}, "arrived_at"),
        ({"conveyance": Conveyance.POLICE_VEHICLE}, "police_vehicle_reason"),
        (
            {
                "conveyance": Conveyance.AMBULANCE,
                "police_vehicle_reason": PoliceVehicleReason.AMBULANCE_DELAYED,
            },
            "police_vehicle_reason",
        ),
    ],
    ids=[
        "arrived-before-detained",
        "handover-without-arrival",
        "future",
        "no-reason",
        "reason-for-ambulance",
    ],
)
def test_an_impossible_detention_report_is_refused_and_nothing_is_kept(
    session: Session, report: dict[str, Any], field: str
) -> None:
    request = add_request(session)
    session.commit()
    with pytest.raises(InvalidInput) as caught:
        lifecycle.record_detention(
            session,
            request.id,
            lifecycle.DetentionReport(**report),
            via=ReportedVia.CLINICIAN,
            now=T0,
            actor=ACTOR,
            policy=POLICY,
        )
    assert field in caught.value.errors
    session.rollback()
    assert session.scalars(select(Detention)).all() == []


def test_times_cannot_follow_a_report_of_no_detention(session: Session) -> None:
    request = add_request(session)
    lifecycle.report_decision(
        session, request.id, OfficerDecision.NOT_DETAINED, via=ReportedVia.SMS, now=T0, actor=ACTOR
    )
    with pytest.raises(IllegalTransition, match="report DETAINED first"):
        lifecycle.record_detention(
            session,
            request.id,
            lifecycle.DetentionReport(arrived_at=T0),
            via=ReportedVia.SMS,
            now=T0,
            actor=ACTOR,
            policy=POLICY,
        )


def test_the_clock_warns_the_team_once_and_an_extension_moves_it(session: Session) -> None:
    request = add_request(session)
    arrival = T0
    lifecycle.record_detention(
        session,
        request.id,
        lifecycle.DetentionReport(arrived_at=arrival),
        via=ReportedVia.SMS,
        now=T0,
        actor=ACTOR,
        policy=POLICY,
    )
    lifecycle.extend_detention(
        session, request.id, via=ReportedVia.SENIOR, now=T0, actor=ACTOR, policy=POLICY
    )
    session.commit()
    scheduler = Scheduler(lambda: Session(session.get_bind()), POLICY, name="test")
    scheduler.clock = lambda: arrival + timedelta(hours=23)
    scheduler.fire_due_timers()  # the first clock's warning: replaced by the extension
    assert _clock_tasks(session) == []
    scheduler.clock = lambda: arrival + timedelta(hours=34, minutes=1)
    scheduler.fire_due_timers()
    (task,) = _clock_tasks(session)
    assert (task.due_at, task.owner_user_id) == (arrival + timedelta(hours=36), None)
    scheduler.clock = lambda: arrival + timedelta(hours=37)
    scheduler.fire_due_timers()
    session.rollback()
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("detention.clock%"))
    ).all()
    assert actions == ["detention.clock_warning", "detention.clock_limit"]


def _clock_tasks(session: Session) -> list[Task]:
    session.rollback()
    return list(session.scalars(select(Task).where(Task.kind == TaskKind.DETENTION_CLOCK)))


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "now", "future", "expected"),
    [
        ("23:50", _utc(2026, 11, 29, 0, 10), False, _utc(2026, 11, 28, 23, 50)),
        ("22:00", _utc(2026, 11, 29, 0, 10), True, _utc(2026, 11, 29, 22, 0)),
        ("13:30", _utc(2026, 7, 1, 12, 0), False, _utc(2026, 6, 30, 12, 30)),
        ("0930", _utc(2026, 7, 1, 12, 0), False, _utc(2026, 7, 1, 8, 30)),
        ("30/11/2026 09:00", _utc(2026, 11, 29), True, _utc(2026, 11, 30, 9)),
    ],
    ids=["last-night", "tonight", "bst-yesterday", "bst-this-morning", "date-and-time"],
)
def test_officers_times_are_read_as_london_time(
    text: str, now: datetime, future: bool, expected: datetime
) -> None:
    assert london_moment(text, now, future=future) == expected


@pytest.mark.parametrize("text", ["25:00", "12:60", "31/02/2026 10:00", "1/1/0001 00:00", "soon"])
def test_impossible_times_are_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match=r"\w+ \w+"):
        london_moment(text, datetime(2026, 11, 29, tzinfo=UTC), future=False)
