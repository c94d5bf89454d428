"""Requests: open, join, queue, connect, end, abandon, call back, cancel, nuisance, widen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle import signals
from advice_line.lifecycle.answers import priority_and_skills, standing_of
from advice_line.lifecycle.errors import (
    IllegalTransition,
    InvalidInput,
)
from advice_line.lifecycle.law import under_18_by_any_indicator
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.steps import (
    FINISHED,
    WAITING,
    accepted_offer,
    add_task,
    change_clinician_status,
    clinician_for_update,
    move,
    request_for_update,
    require,
    withdraw_pending_offer,
)
from advice_line.lifecycle.tasks import safeguard_child
from advice_line.models import (
    AdviceRequest,
    Channel,
    ClinicianStatus,
    EscalationLevel,
    RequestStatus,
    Role,
    Skill,
    Task,
    TaskKind,
    Timer,
    TimerKind,
    User,
)
from advice_line.models.base import column_length

LONG_TEXT = 200


@dataclass(frozen=True)
class NewRequest:
    """What is known when an officer first makes contact."""

    channel: Channel
    officer_id: int | None = None
    officer_verified: bool = False
    caller_number: str | None = None
    incident_ref: str | None = None
    location: str | None = None
    in_dwelling: bool | None = None
    risk_to_life: bool | None = None
    subject_under_18: bool | None = None
    skills_needed: frozenset[Skill] = frozenset()
    #: Past the per-number limit on new requests: ranked after others of its priority.
    over_limit: bool = False


def create_request(
    session: Session, new: NewRequest, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Open a request in ``received``; priority and skills follow from the answers."""
    errors: dict[str, str] = {}
    for name in ("caller_number", "incident_ref", "location"):
        value = getattr(new, name)
        limit = column_length(AdviceRequest, name)
        if value is not None and len(value) > limit:
            errors[name] = f"must be at most {limit} characters"
    if new.officer_verified and new.officer_id is None:
        errors["officer_verified"] = "a verified request must name the officer"
    if errors:
        raise InvalidInput(errors)
    priority, skills = priority_and_skills(
        risk_to_life=new.risk_to_life,
        subject_under_18=new.subject_under_18,
        skills_needed=new.skills_needed,
    )
    request = AdviceRequest(
        channel=new.channel,
        status=RequestStatus.RECEIVED,
        officer_id=new.officer_id,
        officer_verified=new.officer_verified,
        caller_number=new.caller_number,
        incident_ref=new.incident_ref,
        location=new.location,
        in_dwelling=new.in_dwelling,
        risk_to_life=new.risk_to_life,
        subject_under_18=new.subject_under_18,
        priority=priority,
        skills_needed=skills,
        escalation_level=EscalationLevel.SKILLS_REQUIRED,
        over_limit=new.over_limit,
        joined_contacts=0,
        received_at=now,
    )
    request.standing = standing_of(request)
    session.add(request)
    session.flush()
    record_event(
        session,
        actor,
        "request.created",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail={
            "channel": new.channel.value,
            "priority": int(priority),
            **({"over_limit": True} if new.over_limit else {}),
        },
    )
    session.flush()
    signals.request_changed.send(request, old_status=None, action="created")
    return request


def queue_request(
    session: Session, request_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> AdviceRequest:
    """Put a received request in the queue and start its escalation and target timers."""
    request = request_for_update(session, request_id)
    if request.status != RequestStatus.RECEIVED:
        raise IllegalTransition(f"Request {request.reference} is already past intake.")
    request.waiting_since = now
    for after, level in policy.level_steps():
        session.add(
            Timer(
                kind=TimerKind.ESCALATION,
                request_id=request.id,
                escalation_level=level,
                due_at=now + after,
            )
        )
    session.add(
        Timer(
            kind=TimerKind.ANSWER_TARGET, request_id=request.id, due_at=now + policy.answer_target
        )
    )
    move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="queued")
    if request.subject_under_18:
        safeguard_child(session, request, now=now, actor=actor, policy=policy)
    return request


def connect(session: Session, request_id: int, *, now: datetime, actor: Actor) -> AdviceRequest:
    """Record that the clinician and officer are talking (call legs or message thread)."""
    request = request_for_update(session, request_id)
    require(request, RequestStatus.CONNECTED)
    move(session, request, RequestStatus.CONNECTED, now=now, actor=actor, action="connected")
    return request


def end_call(session: Session, request_id: int, *, now: datetime, actor: Actor) -> AdviceRequest:
    """The conversation ended: the clinician goes to wrap-up to complete the record."""
    request = request_for_update(session, request_id)
    require(request, RequestStatus.WRAP_UP)
    clinician = clinician_for_update(session, accepted_offer(session, request).clinician_id)
    change_clinician_status(session, clinician, ClinicianStatus.WRAP_UP, now=now, actor=actor)
    move(session, request, RequestStatus.WRAP_UP, now=now, actor=actor, action="call_ended")
    return request


def abandon(
    session: Session, request_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> AdviceRequest:
    """The officer hung up before talking to a clinician: end it and create a call-back task.

    If a clinician had already taken the request, the call-back is theirs.
    """
    request = request_for_update(session, request_id)
    require(request, RequestStatus.ABANDONED)
    owner_user_id = None
    if request.status == RequestStatus.ACCEPTED:
        clinician = clinician_for_update(session, accepted_offer(session, request).clinician_id)
        owner_user_id = clinician.user_id
        change_clinician_status(session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor)
    else:
        withdraw_pending_offer(session, request, now=now, actor=actor)
    move(session, request, RequestStatus.ABANDONED, now=now, actor=actor, action="abandoned")
    if not _open_call_back(session, request.id):  # a call-back not answered keeps its task
        add_task(
            session,
            TaskKind.CALL_BACK,
            request,
            f"Call back the officer on {request.reference}: they hung up before being answered.",
            now=now,
            due_at=now + policy.call_back_due,
            actor=actor,
            owner_user_id=owner_user_id,
        )
    if under_18_by_any_indicator(request):
        safeguard_child(session, request, now=now, actor=actor, policy=policy)
    return request


def _open_call_back(session: Session, request_id: int) -> bool:
    open_task = select(Task.id).where(
        Task.request_id == request_id, Task.kind == TaskKind.CALL_BACK, Task.done_at.is_(None)
    )
    return session.scalar(open_task.limit(1)) is not None


def request_call_back(
    session: Session, request_id: int, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """The officer is to be called back (asked while waiting, or the clinician chose to)."""
    request = request_for_update(session, request_id)
    if request.status not in WAITING | {RequestStatus.ACCEPTED}:
        raise IllegalTransition(f"Request {request.reference} is no longer waiting.")
    if request.call_back_requested_at is None:
        request.call_back_requested_at = now
        record_event(
            session,
            actor,
            "request.call_back_requested",
            now=now,
            request_id=request.id,
            subject=("advice_request", request.id),
        )
        session.flush()
        signals.request_changed.send(request, old_status=request.status, action="call_back")
    return request


def cancel(
    session: Session, request_id: int, *, now: datetime, actor: Actor, reason: str
) -> AdviceRequest:
    """Withdraw a request that no longer needs advice (for example, a duplicate)."""
    if not reason.strip() or len(reason) > LONG_TEXT:
        raise InvalidInput({"reason": f"Give a reason of 1 to {LONG_TEXT} characters."})
    request = request_for_update(session, request_id)
    require(request, RequestStatus.CANCELLED)
    withdraw_pending_offer(session, request, now=now, actor=actor)
    move(
        session,
        request,
        RequestStatus.CANCELLED,
        now=now,
        actor=actor,
        action="cancelled",
        detail={"reason": reason},
    )
    return request


def join(
    session: Session, request_id: int, channel: Channel, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Another call or message from the caller's number joins their open request
    (docs/DOMAIN.md#one-open-request-per-number): counted, audited, shown to the clinician."""
    request = request_for_update(session, request_id)
    if request.status in FINISHED:
        raise IllegalTransition(f"Request {request.reference} is over; open a new one.")
    request.joined_contacts += 1
    record_event(
        session,
        actor,
        "request.joined",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail={"channel": channel.value, "contacts": request.joined_contacts + 1},
    )
    session.flush()
    signals.request_changed.send(request, old_status=request.status, action="joined")
    return request


def mark_nuisance(
    session: Session,
    request_id: int,
    user_id: int,
    *,
    now: datetime,
    actor: Actor,
    reason: str,
) -> AdviceRequest:
    """A senior clinician closes a waiting request as a nuisance call, with a reason: it is
    cancelled, marked, and audited as ``request.nuisance`` (docs/DOMAIN.md#nuisance-calls).

    Only before anyone has spoken to the caller: once a clinician has, their record says
    what happened (every conversation has a record).
    """
    reason = reason.strip()
    if not reason or len(reason) > LONG_TEXT:
        raise InvalidInput({"reason": f"Give a reason of 1 to {LONG_TEXT} characters."})
    user = session.get(User, user_id)
    if user is None or not user.active or user.role != Role.SENIOR_CLINICIAN:
        raise IllegalTransition("Only a senior clinician may mark a request as a nuisance call.")
    request = request_for_update(session, request_id)
    if request.status not in WAITING | {RequestStatus.RECEIVED}:
        raise IllegalTransition(
            f"{request.reference} is {request.status.value.replace('_', ' ')}: only a request "
            "nobody has taken can be closed as a nuisance call."
        )
    withdraw_pending_offer(session, request, now=now, actor=actor)
    request.nuisance_at = now
    move(
        session,
        request,
        RequestStatus.CANCELLED,
        now=now,
        actor=actor,
        action="nuisance",
        detail={"reason": reason, "by_user_id": user_id},
    )
    return request


def widen(
    session: Session,
    request_id: int,
    level: EscalationLevel,
    *,
    now: datetime,
    actor: Actor,
) -> AdviceRequest:
    """Widen a waiting request's routing; it keeps its place in the queue."""
    request = request_for_update(session, request_id)
    levels = list(EscalationLevel)
    if request.status not in WAITING:
        raise IllegalTransition(f"Request {request.reference} is no longer waiting.")
    if levels.index(level) <= levels.index(request.escalation_level):
        raise IllegalTransition(f"Request {request.reference} is already at {level.value}.")
    old = request.escalation_level
    request.escalation_level = level
    record_event(
        session,
        actor,
        "request.widened",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail={"from": old.value, "to": level.value},
    )
    session.flush()
    signals.request_changed.send(request, old_status=request.status, action="widened")
    if level == EscalationLevel.SENIOR_ALERT:
        signals.senior_alert.send(request)
    return request


def mark_answer_target_breached(
    session: Session, request_id: int, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Record that a waiting request has passed the answer target."""
    request = request_for_update(session, request_id)
    if request.status not in WAITING or request.answer_target_breached_at is not None:
        raise IllegalTransition(f"Request {request.reference} is not waiting unanswered.")
    request.answer_target_breached_at = now
    record_event(
        session,
        actor,
        "request.answer_target_breached",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
    )
    session.flush()
    signals.answer_target_breached.send(request)
    return request
