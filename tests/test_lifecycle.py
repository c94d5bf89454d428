"""The request lifecycle: legal steps, audit, signals, and illegal steps changing nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import (
    AlreadyTaken,
    IllegalTransition,
    InvalidInput,
    MissingSkills,
    NotQualified,
)
from advice_line.lifecycle.law import POLICE_STATION_CONDITIONS
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AuditEvent,
    Channel,
    ClinicianStatus,
    CommunityRoute,
    EscalationLevel,
    Offer,
    OfferOutcome,
    OutcomeCode,
    PlaceOfSafety,
    Priority,
    Profession,
    RequestStatus,
    Role,
    Skill,
    Task,
    TaskKind,
    Timer,
)
from tests.builders import ACTOR, POLICY, T0, add_clinician, add_request, complete_input, wrapped_up

S = RequestStatus


@pytest.fixture
def received() -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    """Collect every request_changed signal sent during the test."""
    seen: list[tuple[Any, dict[str, Any]]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append((sender, kwargs))

    signals.request_changed.connect(receiver)
    yield seen
    signals.request_changed.disconnect(receiver)


def audit_actions(session: Session, request_id: int) -> list[str]:
    """Return the audit actions recorded for a request, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.request_id == request_id)
            .order_by(AuditEvent.id)
        )
    )


def test_a_request_walks_the_whole_lifecycle_with_audit_and_signals(
    session: Session, received: list[tuple[Any, dict[str, Any]]]
) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    offer = lifecycle.offer_request(
        session, request.id, clinician.id, now=T0 + timedelta(seconds=1), actor=ACTOR, policy=POLICY
    )
    assert offer.expires_at == T0 + timedelta(seconds=21)
    lifecycle.accept(
        session, request.id, clinician.id, now=T0 + timedelta(seconds=5), actor=ACTOR, policy=POLICY
    )
    lifecycle.connect(session, request.id, now=T0 + timedelta(seconds=6), actor=ACTOR)
    assert clinician.status == ClinicianStatus.ON_CALL
    lifecycle.end_call(session, request.id, now=T0 + timedelta(minutes=9), actor=ACTOR)
    assert clinician.status == ClinicianStatus.WRAP_UP
    record = lifecycle.complete_record(
        session,
        request.id,
        clinician.id,
        complete_input(),
        now=T0 + timedelta(minutes=12),
        actor=ACTOR,
        policy=POLICY,
    )
    session.commit()

    assert request.status == S.CLOSED
    assert record.outcome == OutcomeCode.COMMUNITY_ROUTE
    assert (request.received_at, request.queued_at, request.offered_at) == (
        T0,
        T0,
        T0 + timedelta(seconds=1),
    )
    assert request.accepted_at == T0 + timedelta(seconds=5)
    assert request.connected_at == T0 + timedelta(seconds=6)
    assert request.wrap_up_at == T0 + timedelta(minutes=9)
    assert request.closed_at == T0 + timedelta(minutes=12)
    assert clinician.status == ClinicianStatus.AVAILABLE
    assert clinician.idle_since == T0 + timedelta(minutes=12)
    assert audit_actions(session, request.id) == [
        "request.created",
        "request.queued",
        "request.offered",
        "request.accepted",
        "request.connected",
        "request.call_ended",
        "request.closed",
    ]
    assert [(kw["old_status"], kw["action"]) for _, kw in received] == [
        (None, "created"),
        (S.RECEIVED, "queued"),
        (S.QUEUED, "offered"),
        (S.OFFERED, "accepted"),
        (S.ACCEPTED, "connected"),
        (S.CONNECTED, "call_ended"),
        (S.WRAP_UP, "closed"),
    ]


def _drive_to(session: Session, status: RequestStatus) -> tuple[AdviceRequest, int]:
    """Create a request and a clinician and walk the request to ``status``."""
    clinician = add_clinician(session)
    request = add_request(session, queue=status != S.RECEIVED)
    steps: list[tuple[RequestStatus, Callable[[], object]]] = [
        (
            S.OFFERED,
            lambda: lifecycle.offer_request(
                session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY
            ),
        ),
        (
            S.ACCEPTED,
            lambda: lifecycle.accept(
                session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY
            ),
        ),
        (S.CONNECTED, lambda: lifecycle.connect(session, request.id, now=T0, actor=ACTOR)),
        (S.WRAP_UP, lambda: lifecycle.end_call(session, request.id, now=T0, actor=ACTOR)),
        (
            S.CLOSED,
            lambda: lifecycle.complete_record(
                session,
                request.id,
                clinician.id,
                complete_input(),
                now=T0,
                actor=ACTOR,
                policy=POLICY,
            ),
        ),
    ]
    if status in (S.ABANDONED, S.CANCELLED):
        if status == S.ABANDONED:
            lifecycle.abandon(session, request.id, now=T0, actor=ACTOR, policy=POLICY)
        else:
            lifecycle.cancel(session, request.id, now=T0, actor=ACTOR, reason="duplicate")
    elif status not in (S.RECEIVED, S.QUEUED):
        for reached, step in steps:
            step()
            if reached == status:
                break
    session.commit()
    assert request.status == status
    return request, clinician.id


def _attempts(session: Session, request: AdviceRequest, clinician_id: int) -> dict[str, Any]:
    other = add_clinician(session)
    senior = add_clinician(session, role=Role.SENIOR_CLINICIAN, status=ClinicianStatus.AWAY)
    session.commit()
    return {
        "queue": lambda: lifecycle.queue_request(
            session, request.id, now=T0, actor=ACTOR, policy=POLICY
        ),
        "offer": lambda: lifecycle.offer_request(
            session, request.id, other.id, now=T0, actor=ACTOR, policy=POLICY
        ),
        "accept": lambda: lifecycle.accept(
            session, request.id, other.id, now=T0, actor=ACTOR, policy=POLICY
        ),
        "connect": lambda: lifecycle.connect(session, request.id, now=T0, actor=ACTOR),
        "end_call": lambda: lifecycle.end_call(session, request.id, now=T0, actor=ACTOR),
        "complete": lambda: lifecycle.complete_record(
            session, request.id, clinician_id, complete_input(), now=T0, actor=ACTOR, policy=POLICY
        ),
        "abandon": lambda: lifecycle.abandon(
            session, request.id, now=T0, actor=ACTOR, policy=POLICY
        ),
        "cancel": lambda: lifecycle.cancel(
            session, request.id, now=T0, actor=ACTOR, reason="duplicate"
        ),
        "fail_connection": lambda: lifecycle.fail_connection(
            session, request.id, now=T0, actor=ACTOR, policy=POLICY
        ),
        "nuisance": lambda: lifecycle.mark_nuisance(
            session, request.id, senior.user_id, now=T0, actor=ACTOR, reason="silent, again"
        ),
    }


LEGAL = {
    S.RECEIVED: {"queue", "abandon", "cancel", "nuisance"},
    S.QUEUED: {"offer", "accept", "abandon", "cancel", "nuisance"},
    S.OFFERED: {"accept", "abandon", "cancel", "nuisance"},
    S.ACCEPTED: {"connect", "fail_connection", "abandon"},
    S.CONNECTED: {"end_call"},
    S.WRAP_UP: {"complete"},
    S.CLOSED: set(),
    S.ABANDONED: set(),
    S.CANCELLED: set(),
}
ALL_STEPS = [
    "queue",
    "offer",
    "accept",
    "connect",
    "end_call",
    "complete",
    "abandon",
    "cancel",
    "fail_connection",
    "nuisance",
]


@pytest.mark.parametrize("status", list(S))
def test_every_illegal_step_raises_and_changes_nothing(
    session: Session, status: RequestStatus
) -> None:
    request, clinician_id = _drive_to(session, status)
    for name in ALL_STEPS:
        if name in LEGAL[status]:
            continue
        attempts = _attempts(session, request, clinician_id)
        audit_before = session.scalar(select(func.count(AuditEvent.id)))
        snapshot = {c.key: getattr(request, c.key) for c in AdviceRequest.__table__.c}
        with pytest.raises((IllegalTransition, AlreadyTaken)):
            attempts[name]()
        assert not session.new, f"{name} from {status} left new rows"
        assert not [o for o in session.dirty if session.is_modified(o)], name
        session.rollback()
        assert {c.key: getattr(request, c.key) for c in AdviceRequest.__table__.c} == snapshot
        assert session.scalar(select(func.count(AuditEvent.id))) == audit_before


def test_priority_and_skills_follow_from_the_answers(session: Session) -> None:
    risk = add_request(session, risk_to_life=True, under_18=True)
    child = add_request(session, under_18=True)
    adult = add_request(session, skills=[Skill.OLDER_ADULT])
    assert (risk.priority, child.priority, adult.priority) == (
        Priority.RISK_TO_LIFE,
        Priority.UNDER_18,
        Priority.ROUTINE,
    )
    assert child.skills_needed == ["camhs"]
    assert adult.skills_needed == ["older_adult"]
    assert child.reference == f"AL-{child.id}"


def test_queueing_starts_escalation_and_answer_target_timers(session: Session) -> None:
    request = add_request(session)
    timers = session.scalars(select(Timer).where(Timer.request_id == request.id)).all()
    assert sorted((t.kind.value, t.due_at - T0) for t in timers) == [
        ("answer_target", timedelta(seconds=30)),
        ("escalation", timedelta(seconds=30)),
        ("escalation", timedelta(seconds=60)),
    ]


def test_bad_intake_is_refused_and_nothing_is_stored(session: Session) -> None:
    with pytest.raises(InvalidInput) as caught:
        lifecycle.create_request(
            session,
            lifecycle.NewRequest(channel=Channel.SMS, location="x" * 201),
            now=T0,
            actor=ACTOR,
        )
    assert "location" in caught.value.errors
    with pytest.raises(InvalidInput):
        lifecycle.create_request(
            session,
            lifecycle.NewRequest(channel=Channel.SMS, officer_verified=True),
            now=T0,
            actor=ACTOR,
        )
    assert session.scalar(select(func.count(AdviceRequest.id))) == 0
    assert session.scalar(select(func.count(AuditEvent.id))) == 0


def test_decline_returns_the_request_and_frees_the_clinician(session: Session) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    offer = lifecycle.offer_request(
        session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY
    )
    other = add_clinician(session)
    with pytest.raises(IllegalTransition):
        lifecycle.decline_offer(session, offer.id, other.id, now=T0, actor=ACTOR)
    lifecycle.decline_offer(session, offer.id, clinician.id, now=T0, actor=ACTOR)
    assert offer.outcome == OfferOutcome.DECLINED
    assert request.status == S.QUEUED
    assert clinician.status == ClinicianStatus.AVAILABLE
    assert request.waiting_since == T0


def test_an_offer_cannot_expire_early(session: Session) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    offer = lifecycle.offer_request(
        session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY
    )
    with pytest.raises(IllegalTransition):
        lifecycle.expire_offer(
            session, offer.id, now=T0 + timedelta(seconds=19), actor=ACTOR, policy=POLICY
        )
    lifecycle.expire_offer(
        session, offer.id, now=T0 + timedelta(seconds=20), actor=ACTOR, policy=POLICY
    )
    assert offer.outcome == OfferOutcome.TIMED_OUT
    assert clinician.missed_offers_in_row == 1
    assert request.status == S.QUEUED


def test_abandon_withdraws_the_offer_and_creates_a_call_back_task(session: Session) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    offer = lifecycle.offer_request(
        session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY
    )
    lifecycle.abandon(
        session, request.id, now=T0 + timedelta(seconds=9), actor=ACTOR, policy=POLICY
    )
    assert request.status == S.ABANDONED
    assert offer.outcome == OfferOutcome.RESCINDED
    assert clinician.status == ClinicianStatus.AVAILABLE
    task = session.scalars(select(Task).where(Task.request_id == request.id)).one()
    assert task.kind == TaskKind.CALL_BACK
    assert task.due_at == T0 + timedelta(seconds=9) + POLICY.call_back_due
    assert request.reference in task.description


def test_cancel_needs_a_reason(session: Session) -> None:
    request = add_request(session)
    with pytest.raises(InvalidInput):
        lifecycle.cancel(session, request.id, now=T0, actor=ACTOR, reason="  ")
    assert request.status == S.QUEUED


def test_failed_connection_counts_a_miss_and_requeues(session: Session) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    offer = lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    lifecycle.fail_connection(session, request.id, now=T0, actor=ACTOR, policy=POLICY)
    assert offer.outcome == OfferOutcome.FAILED
    assert request.status == S.QUEUED
    assert clinician.missed_offers_in_row == 1
    assert clinician.status == ClinicianStatus.AVAILABLE
    second = add_clinician(session)
    lifecycle.accept(session, request.id, second.id, now=T0, actor=ACTOR, policy=POLICY)
    assert request.status == S.ACCEPTED


def test_taking_a_request_offered_to_someone_else_rescinds_their_offer(session: Session) -> None:
    offered_to = add_clinician(session)
    taker = add_clinician(session)
    request = add_request(session)
    offer = lifecycle.offer_request(
        session, request.id, offered_to.id, now=T0, actor=ACTOR, policy=POLICY
    )
    taken = lifecycle.accept(session, request.id, taker.id, now=T0, actor=ACTOR, policy=POLICY)
    assert offer.outcome == OfferOutcome.RESCINDED
    assert offered_to.status == ClinicianStatus.AVAILABLE
    assert taken.clinician_id == taker.id
    with pytest.raises(AlreadyTaken):
        lifecycle.accept(session, request.id, offered_to.id, now=T0, actor=ACTOR, policy=POLICY)


def test_a_withdrawn_offer_cannot_be_accepted_later(session: Session) -> None:
    first, second = add_clinician(session), add_clinician(session)
    request = add_request(session)
    withdrawn = lifecycle.offer_request(
        session, request.id, first.id, now=T0, actor=ACTOR, policy=POLICY
    )
    lifecycle.reassign(session, request.id, second.id, now=T0, actor=ACTOR, policy=POLICY)
    session.commit()
    with pytest.raises(IllegalTransition):
        lifecycle.accept_offer(session, withdrawn.id, now=T0, actor=ACTOR, policy=POLICY)
    session.rollback()
    assert withdrawn.outcome == OfferOutcome.RESCINDED
    assert request.status == S.OFFERED
    assert request.offers[-1].clinician_id == second.id
    assert request.offers[-1].outcome is None


def test_taking_from_the_queue_needs_the_skills_the_request_still_requires(
    session: Session,
) -> None:
    without, with_camhs = add_clinician(session), add_clinician(session, skills=[Skill.CAMHS])
    request = add_request(session, skills=[Skill.CAMHS, Skill.AUTISM])
    session.commit()
    audit_before = session.scalar(select(func.count(AuditEvent.id)))
    for clinician in (without, with_camhs):
        with pytest.raises(MissingSkills, match="autism"):
            lifecycle.take(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
        assert not session.new
        assert not [o for o in session.dirty if session.is_modified(o)]
        session.rollback()
    assert session.scalar(select(func.count(AuditEvent.id))) == audit_before
    assert request.status == S.QUEUED
    skilled = add_clinician(session, skills=[Skill.AUTISM, Skill.CAMHS, Skill.PERINATAL])
    lifecycle.take(session, request.id, skilled.id, now=T0, actor=ACTOR, policy=POLICY)
    assert request.status == S.ACCEPTED


def test_taking_needs_no_skills_once_widened_nor_for_ones_own_offer(session: Session) -> None:
    widened, offered = add_request(session, under_18=True), add_request(session, under_18=True)
    lifecycle.widen(session, widened.id, EscalationLevel.ANY_QUALIFYING, now=T0, actor=ACTOR)
    first, second = add_clinician(session), add_clinician(session)
    lifecycle.take(session, widened.id, first.id, now=T0, actor=ACTOR, policy=POLICY)
    lifecycle.offer_request(session, offered.id, second.id, now=T0, actor=ACTOR, policy=POLICY)
    lifecycle.take(session, offered.id, second.id, now=T0, actor=ACTOR, policy=POLICY)
    assert (widened.status, offered.status) == (S.ACCEPTED, S.ACCEPTED)
    assert "request.skills_overridden" not in audit_actions(session, offered.id)


def test_a_senior_may_take_without_the_skills_and_it_is_audited(session: Session) -> None:
    clinician = add_clinician(session)
    senior = add_clinician(session, role=Role.SENIOR_CLINICIAN, skills=[Skill.CAMHS])
    request = add_request(session, skills=[Skill.CAMHS, Skill.PERINATAL])
    session.commit()
    with pytest.raises(IllegalTransition, match="Only a senior"):
        lifecycle.take(
            session,
            request.id,
            clinician.id,
            now=T0,
            actor=ACTOR,
            policy=POLICY,
            override_skills=True,
        )
    session.rollback()
    offer = lifecycle.take(
        session, request.id, senior.id, now=T0, actor=ACTOR, policy=POLICY, override_skills=True
    )
    assert (request.status, offer.clinician_id) == (S.ACCEPTED, senior.id)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "request.skills_overridden")
    ).one()
    assert (event.request_id, event.actor_kind) == (request.id, ACTOR.kind)
    assert event.detail == {
        "override": True,
        "clinician_id": senior.id,
        "missing_skills": ["perinatal"],
    }


def test_a_busy_clinician_cannot_take_a_second_request(session: Session) -> None:
    clinician = add_clinician(session)
    first = add_request(session)
    second = add_request(session)
    lifecycle.accept(session, first.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    with pytest.raises(IllegalTransition):
        lifecycle.accept(session, second.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    assert second.status == S.QUEUED


@pytest.mark.parametrize("profession", [Profession.SUPPORT_WORKER, Profession.PSYCHOLOGIST])
def test_a_non_qualifying_clinician_cannot_take_or_be_offered_requests(
    session: Session, profession: Profession
) -> None:
    clinician = add_clinician(session, profession=profession)
    request = add_request(session)
    with pytest.raises(NotQualified):
        lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    with pytest.raises(NotQualified):
        lifecycle.offer_request(
            session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY
        )
    assert request.status == S.QUEUED


def test_an_unregistered_nurse_is_not_qualifying(session: Session) -> None:
    clinician = add_clinician(session, registered=False)
    assert not lifecycle.is_qualifying(clinician, POLICY, now=T0)
    with pytest.raises(NotQualified):
        lifecycle.set_clinician_status(
            session, clinician.id, ClinicianStatus.AVAILABLE, now=T0, actor=ACTOR, policy=POLICY
        )


@pytest.mark.parametrize(
    ("request_options", "changes", "field", "phrase"),
    [
        (
            {"in_dwelling": True},
            {"outcome": OutcomeCode.S136_ADVISED, "place_of_safety": PlaceOfSafety.HEALTH_BASED},
            "outcome",
            "private dwelling",
        ),
        (
            {"under_18": True},
            {
                "outcome": OutcomeCode.S136_ADVISED,
                "community_route": None,
                "place_of_safety": PlaceOfSafety.POLICE_STATION,
                **dict.fromkeys(POLICE_STATION_CONDITIONS, True),
            },
            "place_of_safety",
            "under 18 (s136A)",
        ),
        (
            {"in_dwelling": False},
            {
                "outcome": OutcomeCode.S136_ADVISED,
                "community_route": None,
                "place_of_safety": PlaceOfSafety.POLICE_STATION,
                "police_station_imminent_risk": True,
                "police_station_inspector_authorised": True,
            },
            "police_station_conditions",
            "no other place of safety can reasonably be expected; a health professional",
        ),
        ({}, {"outcome": OutcomeCode.S136_ADVISED}, "place_of_safety", "place of safety"),
        ({}, {"community_route": None}, "community_route", "community route"),
        ({}, {"destination": " "}, "destination", "where the person is going"),
        ({}, {"outcome": None}, "outcome", "advice"),
        ({}, {"rationale": ""}, "rationale", "rationale"),
        ({}, {"safeguarding": {"domestic_abuse": False}}, "under_18_in_crisis", "yes, no or not"),
        ({}, {"safeguarding": {"weather": True}}, "safeguarding", "Unknown"),
    ],
)
def test_the_record_enforces_the_rules_and_saves_nothing_when_wrong(
    session: Session,
    request_options: dict[str, Any],
    changes: dict[str, Any],
    field: str,
    phrase: str,
) -> None:
    request, clinician_id = wrapped_up(session, **request_options)
    tasks_before = session.scalar(select(func.count(Task.id)))
    with pytest.raises(InvalidInput) as caught:
        lifecycle.complete_record(
            session,
            request.id,
            clinician_id,
            complete_input(**changes),
            now=T0,
            actor=ACTOR,
            policy=POLICY,
        )
    assert phrase.lower() in caught.value.errors[field].lower()
    session.rollback()
    assert request.status == S.WRAP_UP
    assert session.scalar(select(func.count(AdviceRecord.id))) == 0
    assert session.scalar(select(func.count(Task.id))) == tasks_before


def test_s136_advised_outside_a_dwelling_with_a_health_based_place_closes(
    session: Session,
) -> None:
    request, clinician_id = wrapped_up(session, in_dwelling=False)
    record = lifecycle.complete_record(
        session,
        request.id,
        clinician_id,
        complete_input(
            outcome=OutcomeCode.S136_ADVISED,
            community_route=None,
            destination=None,
            place_of_safety=PlaceOfSafety.HEALTH_BASED,
        ),
        now=T0,
        actor=ACTOR,
        policy=POLICY,
    )
    assert record.place_of_safety == PlaceOfSafety.HEALTH_BASED
    assert request.status == S.CLOSED


def test_safeguarding_yes_answers_create_team_tasks_and_the_follow_up_is_due_when_given(
    session: Session,
) -> None:
    request, clinician_id = wrapped_up(session)
    answers = dict.fromkeys(lifecycle.SAFEGUARDING_QUESTIONS, False)
    answers["children_in_household"] = True
    answers["domestic_abuse"] = True
    lifecycle.complete_record(
        session,
        request.id,
        clinician_id,
        complete_input(
            safeguarding=answers,
            community_route=CommunityRoute.HOME_TREATMENT_TEAM,
            follow_up="Confirm the home treatment team visited",
            follow_up_due_at=T0 + timedelta(hours=3),
        ),
        now=T0,
        actor=ACTOR,
        policy=POLICY,
    )
    tasks = session.scalars(select(Task).order_by(Task.id)).all()
    assert sorted(t.kind.value for t in tasks) == ["follow_up", "safeguarding", "safeguarding"]
    owner = session.scalars(select(Offer).where(Offer.request_id == request.id)).one().clinician
    safeguarding = [t for t in tasks if t.kind == TaskKind.SAFEGUARDING]
    assert {t.owner_user_id for t in safeguarding} == {None}, "the team's, not one person's"
    assert all(t.due_at == T0 + timedelta(hours=24) for t in safeguarding)
    (follow_up,) = [t for t in tasks if t.kind == TaskKind.FOLLOW_UP]
    assert (follow_up.owner_user_id, follow_up.due_at) == (owner.user_id, T0 + timedelta(hours=3))


def test_only_the_advising_clinician_completes_the_record(session: Session) -> None:
    request, _ = wrapped_up(session)
    stranger = add_clinician(session)
    with pytest.raises(IllegalTransition):
        lifecycle.complete_record(
            session, request.id, stranger.id, complete_input(), now=T0, actor=ACTOR, policy=POLICY
        )
    assert request.status == S.WRAP_UP


def test_going_offline_while_holding_an_offer_hands_it_back(session: Session) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    offer = lifecycle.offer_request(
        session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY
    )
    lifecycle.set_clinician_status(
        session, clinician.id, ClinicianStatus.OFFLINE, now=T0, actor=ACTOR, policy=POLICY
    )
    assert offer.outcome == OfferOutcome.RESCINDED
    assert request.status == S.QUEUED
    assert clinician.status == ClinicianStatus.OFFLINE


def test_a_clinician_on_a_call_cannot_go_offline(session: Session) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    with pytest.raises(IllegalTransition):
        lifecycle.set_clinician_status(
            session, clinician.id, ClinicianStatus.OFFLINE, now=T0, actor=ACTOR, policy=POLICY
        )
    with pytest.raises(IllegalTransition):
        lifecycle.set_clinician_status(
            session, clinician.id, ClinicianStatus.ON_CALL, now=T0, actor=ACTOR, policy=POLICY
        )
    assert clinician.status == ClinicianStatus.ON_CALL
