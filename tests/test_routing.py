"""The routing engine: who is offered what, in which order, and how it widens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from advice_line import lifecycle
from advice_line.extensions import db
from advice_line.lifecycle import signals
from advice_line.models import (
    AdviceRequest,
    Clinician,
    ClinicianStatus,
    EscalationLevel,
    Offer,
    Profession,
    RequestStatus,
    Role,
    Skill,
    User,
)
from advice_line.routing.engine import dispatch, queue_order
from advice_line.routing.scheduler import Scheduler
from tests.builders import ACTOR, POLICY, T0, add_clinician, add_request, complete_input


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


class CommittingScheduler(Scheduler):
    """A scheduler that first ends the test's own transaction, as a request would.

    SQLite takes its write lock at BEGIN, so an open test transaction would block it.
    """

    def fire_due_timers(self, limit: int = 1000) -> int:
        db.session.commit()
        return super().fire_due_timers(limit)

    def dispatch(self) -> int:
        db.session.commit()
        return super().dispatch()


@pytest.fixture
def scheduler(app: Flask, clock: Clock) -> Scheduler:
    """A scheduler on the test database, driven by the test's clock."""
    return CommittingScheduler(sessionmaker(bind=db.engine), POLICY, name="test", clock=clock)


def route(session: Session, now: datetime = T0) -> list[Offer]:
    offers = dispatch(session, now=now, policy=POLICY, actor=ACTOR)
    session.commit()
    return offers


def offered_to(session: Session, request: AdviceRequest) -> int | None:
    """Return the clinician holding the request's pending offer."""
    session.expire_all()
    return session.scalar(
        select(Offer.clinician_id).where(Offer.request_id == request.id, Offer.outcome.is_(None))
    )


def test_priority_first_then_oldest_first(session: Session) -> None:
    routine_old = add_request(session, now=T0 - timedelta(minutes=5))
    routine_new = add_request(session, now=T0 - timedelta(minutes=1))
    child = add_request(session, now=T0 - timedelta(minutes=2), under_18=True)
    risk = add_request(session, now=T0, risk_to_life=True)
    session.commit()
    assert list(session.scalars(queue_order())) == [
        risk.id,
        child.id,
        routine_old.id,
        routine_new.id,
    ]


def test_two_requests_of_the_same_priority_go_oldest_first(session: Session) -> None:
    later = add_request(session, now=T0)
    earlier = add_request(session, now=T0 - timedelta(seconds=1))
    same_moment = add_request(session, now=T0)
    add_clinician(session)
    session.commit()
    (offer,) = route(session)
    assert offer.request_id == earlier.id
    assert list(session.scalars(queue_order())) == [later.id, same_moment.id]


def test_longest_idle_clinician_gets_the_offer(session: Session) -> None:
    add_clinician(session, idle_since=T0 - timedelta(minutes=5))
    longest = add_clinician(session, idle_since=T0 - timedelta(minutes=50))
    add_clinician(session, idle_since=T0 - timedelta(minutes=20))
    request = add_request(session)
    session.commit()
    route(session)
    assert offered_to(session, request) == longest.id


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"on_shift": False}, "not on shift"),
        ({"status": ClinicianStatus.AWAY}, "away"),
        ({"status": ClinicianStatus.OFFLINE}, "offline"),
        ({"status": ClinicianStatus.ON_CALL}, "on a call"),
        ({"profession": Profession.SUPPORT_WORKER}, "not a qualifying profession"),
        ({"registered": False}, "no registration"),
    ],
)
def test_ineligible_clinicians_are_never_offered(
    session: Session, options: dict[str, Any], why: str
) -> None:
    ineligible = add_clinician(session, idle_since=T0 - timedelta(hours=5), **options)
    eligible = add_clinician(session, idle_since=T0)
    request = add_request(session)
    session.commit()
    route(session)
    assert offered_to(session, request) == eligible.id, why
    assert ineligible.id != eligible.id


def test_an_inactive_account_is_never_offered(session: Session) -> None:
    clinician = add_clinician(session)
    session.get_one(User, clinician.user_id).active = False
    request = add_request(session)
    session.commit()
    assert route(session) == []
    assert request.status == RequestStatus.QUEUED


def test_nobody_on_shift_leaves_the_request_queued(session: Session) -> None:
    add_clinician(session, on_shift=False)
    request = add_request(session)
    session.commit()
    assert route(session) == []
    session.refresh(request)
    assert request.status == RequestStatus.QUEUED


def test_all_busy_leaves_the_queue_in_order_and_the_next_free_clinician_takes_the_head(
    session: Session,
) -> None:
    busy = [add_clinician(session) for _ in range(2)]
    first = add_request(session, now=T0 - timedelta(seconds=30))
    second = add_request(session, now=T0 - timedelta(seconds=20))
    for clinician, request in zip(busy, [first, second], strict=True):
        lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    waiting = [add_request(session, now=T0 + timedelta(seconds=i)) for i in range(3)]
    session.commit()
    assert route(session) == []
    assert all(r.status == RequestStatus.QUEUED for r in waiting)
    lifecycle.connect(session, first.id, now=T0, actor=ACTOR)
    lifecycle.end_call(session, first.id, now=T0, actor=ACTOR)
    lifecycle.complete_record(
        session,
        first.id,
        busy[0].id,
        complete_input(),
        now=T0 + timedelta(minutes=5),
        actor=ACTOR,
        policy=POLICY,
    )
    session.commit()
    (offer,) = route(session, T0 + timedelta(minutes=5))
    assert (offer.request_id, offer.clinician_id) == (waiting[0].id, busy[0].id)


def test_skills_are_required_at_first(session: Session) -> None:
    add_clinician(session, idle_since=T0 - timedelta(hours=2))
    camhs = add_clinician(session, skills=[Skill.CAMHS], idle_since=T0)
    request = add_request(session, under_18=True)
    session.commit()
    route(session)
    assert offered_to(session, request) == camhs.id


def test_a_request_needing_a_missing_skill_does_not_block_the_next(session: Session) -> None:
    nurse = add_clinician(session)
    blocked = add_request(session, now=T0 - timedelta(seconds=10), skills=[Skill.PERINATAL])
    behind = add_request(session, now=T0)
    session.commit()
    route(session)
    assert offered_to(session, blocked) is None
    assert offered_to(session, behind) == nurse.id


def test_decline_passes_the_request_to_the_next_clinician(session: Session) -> None:
    first = add_clinician(session, idle_since=T0 - timedelta(minutes=9))
    second = add_clinician(session, idle_since=T0 - timedelta(minutes=1))
    request = add_request(session)
    session.commit()
    (offer,) = route(session)
    assert offer.clinician_id == first.id
    lifecycle.decline_offer(session, offer.id, first.id, now=T0 + timedelta(seconds=3), actor=ACTOR)
    session.commit()
    route(session, T0 + timedelta(seconds=3))
    assert offered_to(session, request) == second.id


def test_a_sole_clinician_who_declined_is_offered_again_only_after_the_reoffer_delay(
    session: Session,
) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    session.commit()
    (offer,) = route(session)
    lifecycle.decline_offer(session, offer.id, clinician.id, now=T0, actor=ACTOR)
    session.commit()
    assert route(session, T0 + POLICY.reoffer_after - timedelta(seconds=1)) == []
    route(session, T0 + POLICY.reoffer_after + timedelta(seconds=1))
    assert offered_to(session, request) == clinician.id


def offered_to_the_longer_idle_of_two(
    session: Session, scheduler: Scheduler
) -> tuple[AdviceRequest, int, int]:
    """Queue a request with two clinicians free; route it to the longer idle one."""
    first = add_clinician(session, idle_since=T0 - timedelta(minutes=9))
    second = add_clinician(session, idle_since=T0 - timedelta(minutes=1))
    request = add_request(session)
    session.commit()
    scheduler.tick()
    assert offered_to(session, request) == first.id
    return request, first.id, second.id


def test_timeout_passes_the_request_on(
    session: Session, scheduler: Scheduler, clock: Clock
) -> None:
    request, first_id, second_id = offered_to_the_longer_idle_of_two(session, scheduler)
    clock.advance(POLICY.offer_timeout.total_seconds())
    scheduler.tick()
    assert offered_to(session, request) == second_id
    first = session.get_one(Clinician, first_id)
    assert first.missed_offers_in_row == 1
    assert first.status == ClinicianStatus.AVAILABLE


def test_missing_offers_in_a_row_sets_the_clinician_away(
    session: Session, scheduler: Scheduler, clock: Clock
) -> None:
    clinician = add_clinician(session)
    for i in range(POLICY.max_missed_offers):
        add_request(session, now=T0 + timedelta(seconds=i))
    session.commit()
    for _ in range(POLICY.max_missed_offers):
        scheduler.tick()
        clock.advance(POLICY.offer_timeout.total_seconds())
        scheduler.fire_due_timers()
        session.refresh(clinician)
    assert clinician.missed_offers_in_row == POLICY.max_missed_offers
    assert clinician.status == ClinicianStatus.AWAY
    scheduler.tick()
    assert session.scalar(select(Offer.id).where(Offer.outcome.is_(None))) is None


def test_accepting_resets_the_missed_count(session: Session) -> None:
    clinician = add_clinician(session)
    clinician.missed_offers_in_row = 2
    request = add_request(session)
    lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    assert clinician.missed_offers_in_row == 0


def test_a_clinician_going_offline_with_an_offer_loses_it_to_the_next(
    session: Session, scheduler: Scheduler
) -> None:
    request, first_id, second_id = offered_to_the_longer_idle_of_two(session, scheduler)
    lifecycle.set_clinician_status(
        session, first_id, ClinicianStatus.OFFLINE, now=T0, actor=ACTOR, policy=POLICY
    )
    session.commit()
    scheduler.tick()
    assert offered_to(session, request) == second_id


@pytest.fixture
def alerts() -> Iterator[list[Any]]:
    seen: list[Any] = []

    def receiver(sender: Any, **_kwargs: Any) -> None:
        seen.append(sender.id)

    signals.senior_alert.connect(receiver)
    yield seen
    signals.senior_alert.disconnect(receiver)


def test_a_waiting_request_widens_to_any_qualifying_then_alerts_seniors(
    session: Session, scheduler: Scheduler, clock: Clock, alerts: list[int]
) -> None:
    generalist = add_clinician(session, status=ClinicianStatus.AWAY)
    request = add_request(session, under_18=True)
    session.commit()
    clock.advance(29)
    scheduler.tick()
    session.refresh(request)
    assert request.escalation_level == EscalationLevel.SKILLS_REQUIRED
    assert request.answer_target_breached_at is None
    lifecycle.set_clinician_status(
        session, generalist.id, ClinicianStatus.AVAILABLE, now=clock(), actor=ACTOR, policy=POLICY
    )
    session.commit()
    scheduler.tick()
    assert offered_to(session, request) is None, "no CAMHS skill yet: must not be offered"
    clock.advance(1)
    scheduler.tick()
    session.refresh(request)
    assert request.escalation_level == EscalationLevel.ANY_QUALIFYING
    assert request.answer_target_breached_at == T0 + timedelta(seconds=30)
    assert offered_to(session, request) == generalist.id
    assert alerts == []
    clock.advance(30)
    scheduler.tick()
    session.refresh(request)
    assert request.escalation_level == EscalationLevel.SENIOR_ALERT
    assert alerts == [request.id]


def test_a_widened_request_keeps_its_place(
    session: Session, scheduler: Scheduler, clock: Clock
) -> None:
    needs_skill = add_request(session, now=T0, skills=[Skill.OLDER_ADULT])
    session.commit()
    clock.advance(31)
    scheduler.tick()
    newer = add_request(session, now=clock())
    session.commit()
    session.refresh(needs_skill)
    assert needs_skill.escalation_level == EscalationLevel.ANY_QUALIFYING
    assert needs_skill.waiting_since == T0
    nurse = add_clinician(session)
    session.commit()
    scheduler.tick()
    assert offered_to(session, needs_skill) == nurse.id
    assert offered_to(session, newer) is None


def test_answered_requests_are_not_widened_or_flagged(
    session: Session, scheduler: Scheduler, clock: Clock, alerts: list[int]
) -> None:
    clinician = add_clinician(session)
    request = add_request(session)
    lifecycle.accept(session, request.id, clinician.id, now=T0, actor=ACTOR, policy=POLICY)
    session.commit()
    clock.advance(120)
    assert scheduler.fire_due_timers() == 3
    session.refresh(request)
    assert request.escalation_level == EscalationLevel.SKILLS_REQUIRED
    assert request.answer_target_breached_at is None
    assert alerts == []


def test_escalation_steps_are_configurable(app: Flask, session: Session) -> None:
    from advice_line.lifecycle.policy import RoutingPolicy, parse_escalation_steps

    policy = RoutingPolicy(escalation_steps=parse_escalation_steps("10:senior_alert"))
    request = add_request(session, policy=policy)
    session.commit()
    scheduler = CommittingScheduler(
        sessionmaker(bind=db.engine), policy, name="t", clock=lambda: T0 + timedelta(seconds=10)
    )
    scheduler.fire_due_timers()
    session.refresh(request)
    assert request.escalation_level == EscalationLevel.SENIOR_ALERT


def test_senior_clinicians_are_routed_like_everyone_else(session: Session) -> None:
    senior = add_clinician(session, role=Role.SENIOR_CLINICIAN)
    request = add_request(session)
    session.commit()
    route(session)
    assert offered_to(session, request) == senior.id
