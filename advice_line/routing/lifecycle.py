"""The request lifecycle: every status change is one function here.

Each function checks everything first and raises a ``DomainError`` before changing
anything; then it changes the rows, writes an audit event, flushes and sends a signal.
Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    Channel,
    Clinician,
    ClinicianStatus,
    CommunityRoute,
    EscalationLevel,
    Ethnicity,
    Offer,
    OfferOutcome,
    OfficerDecision,
    OutcomeCode,
    PlaceOfSafety,
    Priority,
    RcrpPhase,
    RecordStatus,
    RequestStatus,
    Sex,
    Skill,
    Task,
    TaskKind,
    Timer,
    TimerKind,
)
from advice_line.models.base import column_length
from advice_line.models.clinician import REGISTRATION_BODIES
from advice_line.routing import signals
from advice_line.routing.errors import (
    AlreadyTaken,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotQualified,
)
from advice_line.routing.policy import RoutingPolicy

S = RequestStatus
ALLOWED_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.RECEIVED: frozenset({S.QUEUED, S.ABANDONED, S.CANCELLED}),
    S.QUEUED: frozenset({S.OFFERED, S.ACCEPTED, S.ABANDONED, S.CANCELLED}),
    S.OFFERED: frozenset({S.QUEUED, S.ACCEPTED, S.ABANDONED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.CONNECTED, S.QUEUED, S.ABANDONED}),
    S.CONNECTED: frozenset({S.WRAP_UP}),
    S.WRAP_UP: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.ABANDONED: frozenset(),
    S.CANCELLED: frozenset(),
}
WAITING = frozenset({S.QUEUED, S.OFFERED})
TAKEN = frozenset({S.ACCEPTED, S.CONNECTED, S.WRAP_UP, S.CLOSED})
SAFEGUARDING_QUESTIONS: dict[str, str] = {
    "under_18_in_crisis": "Is the person in crisis under 18?",
    "children_in_household": "Are there children in the household?",
    "person_is_carer": "Is the person a carer for someone?",
    "domestic_abuse": "Is there any indication of domestic abuse?",
}
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
    risk_to_life: bool = False
    subject_under_18: bool | None = None
    skills_needed: frozenset[Skill] = frozenset()


@dataclass(frozen=True)
class RecordInput:
    """The clinician's consultation record as submitted for completion."""

    outcome: OutcomeCode | None
    place_of_safety: PlaceOfSafety | None = None
    police_station_authorised: bool = False
    community_route: CommunityRoute | None = None
    destination: str | None = None
    rationale: str | None = None
    safeguarding: Mapping[str, bool] = field(default_factory=dict)
    follow_up: str | None = None
    subject_age_band: AgeBand | None = None
    subject_sex: Sex | None = None
    subject_ethnicity: Ethnicity | None = None
    rcrp_phase: RcrpPhase | None = None
    area: str | None = None


# --- loading and shared steps -------------------------------------------------------


def _request_for_update(session: Session, request_id: int) -> AdviceRequest:
    request = session.get(AdviceRequest, request_id, with_for_update=True, populate_existing=True)
    if request is None:
        raise NotFound(f"There is no advice request {request_id}.")
    return request


def _clinician_for_update(session: Session, clinician_id: int) -> Clinician:
    clinician = session.get(Clinician, clinician_id, with_for_update=True, populate_existing=True)
    if clinician is None:
        raise NotFound(f"There is no clinician {clinician_id}.")
    return clinician


def _pending_offer(session: Session, request_id: int) -> Offer | None:
    return session.scalars(
        select(Offer).where(Offer.request_id == request_id, Offer.outcome.is_(None))
    ).one_or_none()


def _require(request: AdviceRequest, target: RequestStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[request.status]:
        raise IllegalTransition(
            f"Request {request.reference} is {request.status.value}; "
            f"it cannot become {target.value}."
        )


def is_qualifying(clinician: Clinician, policy: RoutingPolicy) -> bool:
    """Return whether the clinician may give the s136(1C) consultation."""
    return (
        clinician.profession in policy.qualifying_professions
        and bool(clinician.registration_number)
        and clinician.registration_body in REGISTRATION_BODIES[clinician.profession]
    )


def _require_qualifying(clinician: Clinician, policy: RoutingPolicy) -> None:
    if not is_qualifying(clinician, policy):
        raise NotQualified(
            f"{clinician.profession.value} {clinician.id} has no qualifying profession and "
            "registration, so may not give the s136 consultation."
        )


def _offerable_clinician(session: Session, clinician_id: int, policy: RoutingPolicy) -> Clinician:
    """Lock the clinician and check they are qualifying and free to be offered a request."""
    clinician = _clinician_for_update(session, clinician_id)
    _require_qualifying(clinician, policy)
    if clinician.status != ClinicianStatus.AVAILABLE:
        raise IllegalTransition(f"Clinician {clinician.id} is {clinician.status.value}.")
    return clinician


def _move(
    session: Session,
    request: AdviceRequest,
    target: RequestStatus,
    *,
    now: datetime,
    actor: Actor,
    action: str,
    detail: dict[str, object] | None = None,
) -> None:
    _require(request, target)
    old = request.status
    request.status = target
    setattr(request, f"{target.value}_at", now)
    record_event(
        session,
        actor,
        f"request.{action}",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail={"from": old.value, "to": target.value, **(detail or {})},
    )
    session.flush()
    signals.request_changed.send(request, old_status=old, action=action)


def _set_clinician_status(
    session: Session,
    clinician: Clinician,
    status: ClinicianStatus,
    *,
    now: datetime,
    actor: Actor,
    starts_idle: bool = False,
) -> None:
    old = clinician.status
    if old == status:
        return
    clinician.status = status
    clinician.status_changed_at = now
    if starts_idle or clinician.idle_since is None:
        clinician.idle_since = now
    record_event(
        session,
        actor,
        "clinician.status",
        now=now,
        subject=("clinician", clinician.id),
        detail={"from": old.value, "to": status.value},
    )
    session.flush()
    signals.clinician_status_changed.send(clinician, old_status=old)


def _end_offer(
    session: Session, offer: Offer, outcome: OfferOutcome, *, now: datetime, actor: Actor
) -> None:
    offer.outcome = outcome
    offer.responded_at = now
    record_event(
        session,
        actor,
        f"offer.{outcome.value}",
        now=now,
        request_id=offer.request_id,
        subject=("offer", offer.id),
        detail={"clinician_id": offer.clinician_id},
    )
    session.flush()
    signals.offer_changed.send(offer, action=outcome.value)


def _count_miss(
    session: Session,
    clinician: Clinician,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> None:
    """Count a missed offer; at the limit the clinician is set away (max-no-answer)."""
    clinician.missed_offers_in_row += 1
    too_many = clinician.missed_offers_in_row >= policy.max_missed_offers
    status = ClinicianStatus.AWAY if too_many else ClinicianStatus.AVAILABLE
    _set_clinician_status(session, clinician, status, now=now, actor=actor)


def _requeue_after_miss(
    session: Session,
    request: AdviceRequest,
    offer: Offer,
    outcome: OfferOutcome,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> None:
    """End the offer, count the clinician's miss and put the request back in its place."""
    clinician = _clinician_for_update(session, offer.clinician_id)
    _end_offer(session, offer, outcome, now=now, actor=actor)
    _count_miss(session, clinician, now=now, actor=actor, policy=policy)
    _move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")


def _add_task(
    session: Session,
    kind: TaskKind,
    request: AdviceRequest,
    description: str,
    *,
    now: datetime,
    due_at: datetime,
    actor: Actor,
    owner_user_id: int | None = None,
) -> Task:
    task = Task(
        kind=kind,
        request_id=request.id,
        owner_user_id=owner_user_id,
        description=description,
        created_at=now,
        due_at=due_at,
    )
    session.add(task)
    session.flush()
    record_event(
        session,
        actor,
        "task.created",
        now=now,
        request_id=request.id,
        subject=("task", task.id),
        detail={"kind": kind.value, "due_at": due_at.isoformat()},
    )
    signals.task_created.send(task)
    return task


def _withdraw_pending_offer(
    session: Session, request: AdviceRequest, *, now: datetime, actor: Actor
) -> None:
    pending = _pending_offer(session, request.id)
    if pending is None:
        return
    clinician = _clinician_for_update(session, pending.clinician_id)
    _end_offer(session, pending, OfferOutcome.RESCINDED, now=now, actor=actor)
    _set_clinician_status(session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor)


# --- the lifecycle --------------------------------------------------------------------


def _priority_and_skills(
    *, risk_to_life: bool, subject_under_18: bool | None, skills_needed: frozenset[Skill]
) -> tuple[Priority, list[Skill]]:
    """Risk to life first, then under-18s (who also need CAMHS), then everyone else."""
    skills = set(skills_needed) | ({Skill.CAMHS} if subject_under_18 else set())
    if risk_to_life:
        priority = Priority.RISK_TO_LIFE
    elif subject_under_18:
        priority = Priority.UNDER_18
    else:
        priority = Priority.ROUTINE
    return priority, sorted(skills)


@dataclass(frozen=True)
class IntakeAnswers:
    """What the officer has told the line so far during intake (None: not asked yet)."""

    claimed_collar_number: str | None = None
    claimed_force: str | None = None
    officer_id: int | None = None
    risk_to_life: bool | None = None
    subject_under_18: bool | None = None
    in_dwelling: bool | None = None


def record_intake(
    session: Session, request_id: int, answers: IntakeAnswers, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Store intake answers on a request still in ``received``; priority follows them."""
    request = _request_for_update(session, request_id)
    if request.status != RequestStatus.RECEIVED:
        raise IllegalTransition(f"Request {request.reference} is already past intake.")
    given = {k: v for k, v in answers.__dict__.items() if v is not None}
    for name in ("claimed_collar_number", "claimed_force"):
        if name in given and len(given[name]) > column_length(AdviceRequest, name):
            raise InvalidInput({name: "is too long"})
    for name, value in given.items():
        setattr(request, name, value)
    request.priority, request.skills_needed = _priority_and_skills(
        risk_to_life=request.risk_to_life,
        subject_under_18=request.subject_under_18,
        skills_needed=frozenset(Skill(s) for s in request.skills_needed),
    )
    record_event(
        session,
        actor,
        "request.intake",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail={k: v for k, v in given.items() if k != "officer_id"},
    )
    session.flush()
    return request


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
    priority, skills = _priority_and_skills(
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
        received_at=now,
    )
    session.add(request)
    session.flush()
    record_event(
        session,
        actor,
        "request.created",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail={"channel": new.channel.value, "priority": int(priority)},
    )
    session.flush()
    signals.request_changed.send(request, old_status=None, action="created")
    return request


def queue_request(
    session: Session, request_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> AdviceRequest:
    """Put a received request in the queue and start its escalation and target timers."""
    request = _request_for_update(session, request_id)
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
    _move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="queued")
    return request


def offer_request(
    session: Session,
    request_id: int,
    clinician_id: int,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Offer:
    """Offer a queued request to an available qualifying clinician until the timeout."""
    request = _request_for_update(session, request_id)
    _require(request, RequestStatus.OFFERED)
    clinician = _offerable_clinician(session, clinician_id, policy)
    offer = Offer(
        request=request,
        clinician=clinician,
        offered_at=now,
        expires_at=now + policy.offer_timeout,
    )
    session.add(offer)
    _set_clinician_status(session, clinician, ClinicianStatus.OFFERED, now=now, actor=actor)
    _move(
        session,
        request,
        RequestStatus.OFFERED,
        now=now,
        actor=actor,
        action="offered",
        detail={"clinician_id": clinician.id, "offer_id": offer.id},
    )
    session.add(
        Timer(
            kind=TimerKind.OFFER_EXPIRY,
            request_id=request.id,
            offer_id=offer.id,
            due_at=offer.expires_at,
        )
    )
    session.flush()
    signals.offer_changed.send(offer, action="offered")
    return offer


def accept(
    session: Session,
    request_id: int,
    clinician_id: int,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Offer:
    """Give the request to the clinician: their own offer, or taken from the queue.

    Raises ``AlreadyTaken`` when another clinician got there first. After an
    ``AlreadyTaken`` caused by the database's own guard the session must be rolled back.
    """
    request = _request_for_update(session, request_id)
    if request.status in TAKEN:
        raise AlreadyTaken(f"Request {request.reference} has already been taken.")
    _require(request, RequestStatus.ACCEPTED)
    clinician = _clinician_for_update(session, clinician_id)
    _require_qualifying(clinician, policy)
    offer = _pending_offer(session, request.id)
    if offer is None or offer.clinician_id != clinician.id:
        if clinician.status != ClinicianStatus.AVAILABLE:
            raise IllegalTransition(
                f"Clinician {clinician.id} is {clinician.status.value} and cannot take "
                "another request."
            )
        if offer is not None:
            _withdraw_pending_offer(session, request, now=now, actor=actor)
        offer = Offer(request=request, clinician=clinician, offered_at=now, expires_at=now)
        session.add(offer)
    offer.outcome = OfferOutcome.ACCEPTED
    offer.responded_at = now
    clinician.missed_offers_in_row = 0
    try:
        _set_clinician_status(session, clinician, ClinicianStatus.ON_CALL, now=now, actor=actor)
        _move(
            session,
            request,
            RequestStatus.ACCEPTED,
            now=now,
            actor=actor,
            action="accepted",
            detail={"clinician_id": clinician.id, "offer_id": offer.id},
        )
    except IntegrityError as error:
        raise AlreadyTaken(f"Request {request.reference} has already been taken.") from error
    signals.offer_changed.send(offer, action="accepted")
    return offer


def _own_pending_offer(session: Session, offer_id: int) -> tuple[AdviceRequest, Offer]:
    """Lock the offer's request, then return both if the offer is still pending."""
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(f"There is no offer {offer_id}.")
    request = _request_for_update(session, offer.request_id)
    session.refresh(offer)
    if offer.outcome is not None:
        raise IllegalTransition(f"The offer of {request.reference} is already {offer.outcome}.")
    return request, offer


def decline_offer(
    session: Session, offer_id: int, clinician_id: int, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Decline one's own pending offer; the request goes back to its place in the queue."""
    request, offer = _own_pending_offer(session, offer_id)
    if offer.clinician_id != clinician_id:
        raise IllegalTransition("Only the clinician it was offered to can decline an offer.")
    clinician = _clinician_for_update(session, clinician_id)
    _end_offer(session, offer, OfferOutcome.DECLINED, now=now, actor=actor)
    clinician.missed_offers_in_row = 0
    _set_clinician_status(session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor)
    _move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")
    return request


def expire_offer(
    session: Session, offer_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> AdviceRequest:
    """Time out a pending offer that has passed its expiry; count the clinician's miss."""
    request, offer = _own_pending_offer(session, offer_id)
    if now < offer.expires_at:
        raise IllegalTransition(f"The offer of {request.reference} has not expired yet.")
    _requeue_after_miss(
        session, request, offer, OfferOutcome.TIMED_OUT, now=now, actor=actor, policy=policy
    )
    return request


def connect(session: Session, request_id: int, *, now: datetime, actor: Actor) -> AdviceRequest:
    """Record that the clinician and officer are talking (call legs or message thread)."""
    request = _request_for_update(session, request_id)
    _require(request, RequestStatus.CONNECTED)
    _move(session, request, RequestStatus.CONNECTED, now=now, actor=actor, action="connected")
    return request


def _accepted_offer(session: Session, request: AdviceRequest) -> Offer:
    return session.scalars(
        select(Offer).where(Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED)
    ).one()


def fail_connection(
    session: Session, request_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> AdviceRequest:
    """The accepting clinician could not be connected: count a miss and re-queue."""
    request = _request_for_update(session, request_id)
    if request.status != RequestStatus.ACCEPTED:
        raise IllegalTransition(f"Request {request.reference} is not waiting to connect.")
    _requeue_after_miss(
        session,
        request,
        _accepted_offer(session, request),
        OfferOutcome.FAILED,
        now=now,
        actor=actor,
        policy=policy,
    )
    return request


def end_call(session: Session, request_id: int, *, now: datetime, actor: Actor) -> AdviceRequest:
    """The conversation ended: the clinician goes to wrap-up to complete the record."""
    request = _request_for_update(session, request_id)
    _require(request, RequestStatus.WRAP_UP)
    clinician = _clinician_for_update(session, _accepted_offer(session, request).clinician_id)
    _set_clinician_status(session, clinician, ClinicianStatus.WRAP_UP, now=now, actor=actor)
    _move(session, request, RequestStatus.WRAP_UP, now=now, actor=actor, action="call_ended")
    return request


def validate_record(
    record: RecordInput, request: AdviceRequest, policy: RoutingPolicy
) -> dict[str, str]:
    """Return the errors that stop this record from being completed, by field."""
    errors: dict[str, str] = {}
    if record.outcome is None:
        errors["outcome"] = "Choose the advice given."
    if record.outcome == OutcomeCode.S136_ADVISED:
        if request.in_dwelling:
            errors["outcome"] = (
                "Section 136 cannot be used in a private dwelling (s136(1A)); "
                "choose the s135 / AMHP route or another outcome."
            )
        if record.place_of_safety is None:
            errors["place_of_safety"] = "Recommend a place of safety."
        elif record.place_of_safety == PlaceOfSafety.POLICE_STATION:
            if request.subject_under_18 and not policy.police_station_for_under_18:
                errors["place_of_safety"] = (
                    "A police station may never be the place of safety for under-18s (s136A)."
                )
            elif policy.police_station_needs_authorisation and not record.police_station_authorised:
                errors["police_station_authorised"] = (
                    "A police station needs an imminent risk of serious harm and an "
                    "inspector's authorisation."
                )
    elif record.outcome is not None and not (record.destination or "").strip():
        errors["destination"] = "Say where the person is going now."
    if record.outcome == OutcomeCode.COMMUNITY_ROUTE and record.community_route is None:
        errors["community_route"] = "Choose the community route."
    if record.area is not None and len(record.area) > column_length(AdviceRequest, "area"):
        errors["area"] = f"Must be at most {column_length(AdviceRequest, 'area')} characters."
    for name in ("destination", "follow_up"):
        value = getattr(record, name)
        limit = column_length(AdviceRecord, name)
        if value is not None and len(value) > limit:
            errors[name] = f"Must be at most {limit} characters."
    unknown = set(record.safeguarding) - set(SAFEGUARDING_QUESTIONS)
    unanswered = [q for q in SAFEGUARDING_QUESTIONS if q not in record.safeguarding]
    if unknown:
        errors["safeguarding"] = f"Unknown safeguarding questions: {', '.join(sorted(unknown))}."
    elif unanswered:
        errors["safeguarding"] = f"Answer every safeguarding question ({', '.join(unanswered)})."
    if not (record.rationale or "").strip():
        errors["rationale"] = "Give the rationale for the advice."
    return errors


def complete_record(
    session: Session,
    request_id: int,
    clinician_id: int,
    record: RecordInput,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> AdviceRecord:
    """Complete the consultation record and close the request; create the tasks it needs."""
    request = _request_for_update(session, request_id)
    if request.status in {RequestStatus.ACCEPTED, RequestStatus.CONNECTED}:
        raise IllegalTransition(
            f"{request.reference} is still in progress: end the call or conversation first, "
            "then complete the record."
        )
    _require(request, RequestStatus.CLOSED)
    offer = _accepted_offer(session, request)
    if offer.clinician_id != clinician_id:
        raise IllegalTransition("Only the clinician who gave the advice can complete the record.")
    clinician = _clinician_for_update(session, clinician_id)
    _require_qualifying(clinician, policy)
    errors = validate_record(record, request, policy)
    if errors:
        raise InvalidInput(errors)
    advice = session.scalars(
        select(AdviceRecord).where(AdviceRecord.request_id == request.id)
    ).one_or_none()
    if advice is None:
        advice = AdviceRecord(request_id=request.id, clinician_id=clinician.id, created_at=now)
        session.add(advice)
    advice.status = RecordStatus.COMPLETE
    _record_fields(advice, record, request)
    advice.completed_at = now
    session.flush()
    for question, answer in record.safeguarding.items():
        if answer:
            _add_task(
                session,
                TaskKind.SAFEGUARDING,
                request,
                f"Safeguarding: {SAFEGUARDING_QUESTIONS[question]}",
                now=now,
                due_at=now + policy.safeguarding_due,
                actor=actor,
                owner_user_id=clinician.user_id,
            )
    if record.follow_up:
        _add_task(
            session,
            TaskKind.FOLLOW_UP,
            request,
            record.follow_up,
            now=now,
            due_at=now + policy.follow_up_due,
            actor=actor,
            owner_user_id=clinician.user_id,
        )
    _set_clinician_status(
        session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor, starts_idle=True
    )
    _move(
        session,
        request,
        RequestStatus.CLOSED,
        now=now,
        actor=actor,
        action="closed",
        detail={
            "record_id": advice.id,
            "outcome": advice.outcome.value if advice.outcome else None,
        },
    )
    return advice


def abandon(
    session: Session, request_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> AdviceRequest:
    """The officer hung up before talking to a clinician: end it and create a call-back task.

    If a clinician had already taken the request, the call-back is theirs.
    """
    request = _request_for_update(session, request_id)
    _require(request, RequestStatus.ABANDONED)
    owner_user_id = None
    if request.status == RequestStatus.ACCEPTED:
        clinician = _clinician_for_update(session, _accepted_offer(session, request).clinician_id)
        owner_user_id = clinician.user_id
        _set_clinician_status(session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor)
    else:
        _withdraw_pending_offer(session, request, now=now, actor=actor)
    _move(session, request, RequestStatus.ABANDONED, now=now, actor=actor, action="abandoned")
    _add_task(
        session,
        TaskKind.CALL_BACK,
        request,
        f"Call back the officer on {request.reference}: they hung up before being answered.",
        now=now,
        due_at=now + policy.call_back_due,
        actor=actor,
        owner_user_id=owner_user_id,
    )
    return request


def request_call_back(
    session: Session, request_id: int, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """The officer is to be called back (asked while waiting, or the clinician chose to)."""
    request = _request_for_update(session, request_id)
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


def report_officer_decision(
    session: Session, request_id: int, decision: OfficerDecision, *, now: datetime, actor: Actor
) -> AdviceRecord:
    """Record what the officer decided, apart from the advice; a later report corrects it."""
    request = _request_for_update(session, request_id)
    advice = session.scalars(
        select(AdviceRecord).where(
            AdviceRecord.request_id == request.id, AdviceRecord.status == RecordStatus.COMPLETE
        )
    ).one_or_none()
    if advice is None:
        raise IllegalTransition(
            f"The advice on {request.reference} is not recorded yet; report the decision "
            "once the clinician has completed it."
        )
    previous = advice.officer_decision
    advice.officer_decision = decision
    advice.officer_decision_at = now
    record_event(
        session,
        actor,
        "record.officer_decision",
        now=now,
        request_id=request.id,
        subject=("advice_record", advice.id),
        detail={"decision": decision.value, "previous": previous.value if previous else None},
    )
    session.flush()
    return advice


def cancel(
    session: Session, request_id: int, *, now: datetime, actor: Actor, reason: str
) -> AdviceRequest:
    """Withdraw a request that no longer needs advice (for example, a duplicate)."""
    if not reason.strip() or len(reason) > LONG_TEXT:
        raise InvalidInput({"reason": f"Give a reason of 1 to {LONG_TEXT} characters."})
    request = _request_for_update(session, request_id)
    _require(request, RequestStatus.CANCELLED)
    _withdraw_pending_offer(session, request, now=now, actor=actor)
    _move(
        session,
        request,
        RequestStatus.CANCELLED,
        now=now,
        actor=actor,
        action="cancelled",
        detail={"reason": reason},
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
    request = _request_for_update(session, request_id)
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
    request = _request_for_update(session, request_id)
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


MANUAL_STATUSES = frozenset(
    {ClinicianStatus.AVAILABLE, ClinicianStatus.AWAY, ClinicianStatus.OFFLINE}
)


def set_clinician_status(
    session: Session,
    clinician_id: int,
    status: ClinicianStatus,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Clinician:
    """Set a clinician available, away or offline; a held offer passes to the next."""
    if status not in MANUAL_STATUSES:
        raise IllegalTransition(f"A clinician cannot set themselves {status.value}.")
    current = session.get(Clinician, clinician_id)
    if current is None:
        raise NotFound(f"There is no clinician {clinician_id}.")
    held = _pending_offer_of_clinician(session, clinician_id)
    request = None
    if held is not None:
        request = _request_for_update(session, held.request_id)  # lock order: request first
        session.refresh(held)
    clinician = _clinician_for_update(session, clinician_id)
    if clinician.status in {ClinicianStatus.ON_CALL, ClinicianStatus.WRAP_UP}:
        raise IllegalTransition("Finish the current request before changing status.")
    if status == ClinicianStatus.AVAILABLE:
        _require_qualifying(clinician, policy)
        if clinician.status == ClinicianStatus.OFFERED:
            return clinician
        clinician.missed_offers_in_row = 0
    if request is not None and held is not None and held.outcome is None:
        _end_offer(session, held, OfferOutcome.RESCINDED, now=now, actor=actor)
        _move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")
    _set_clinician_status(
        session,
        clinician,
        status,
        now=now,
        actor=actor,
        starts_idle=status == ClinicianStatus.AVAILABLE,
    )
    return clinician


def _pending_offer_of_clinician(session: Session, clinician_id: int) -> Offer | None:
    return session.scalars(
        select(Offer).where(Offer.clinician_id == clinician_id, Offer.outcome.is_(None))
    ).one_or_none()


# --- console presence, drafts, tasks, reassignment -----------------------------------


def console_seen(session: Session, clinician_id: int, *, now: datetime) -> Clinician:
    """A clinician's console is connected (or sent its heartbeat)."""
    clinician = session.get(Clinician, clinician_id)
    if clinician is None:
        raise NotFound(f"There is no clinician {clinician_id}.")
    clinician.on_console = True
    clinician.console_seen_at = now
    session.flush()
    return clinician


def sweep_lost_consoles(
    session: Session, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> list[int]:
    """Clinicians whose console went quiet past the grace period go offline; return them.

    Any offer they held goes back to the queue for the next clinician. A clinician on a
    call keeps it (their phone is still connected) but is no longer at a console.
    """
    quiet = session.scalars(
        select(Clinician.id).where(
            Clinician.on_console.is_(True), Clinician.console_seen_at < now - policy.presence_grace
        )
    ).all()
    for clinician_id in quiet:
        clinician = _clinician_for_update(session, clinician_id)
        clinician.on_console = False
        if clinician.status not in {ClinicianStatus.ON_CALL, ClinicianStatus.WRAP_UP}:
            set_clinician_status(
                session, clinician_id, ClinicianStatus.OFFLINE, now=now, actor=actor, policy=policy
            )
        record_event(
            session, actor, "clinician.console_lost", now=now, subject=("clinician", clinician_id)
        )
    session.flush()
    return list(quiet)


def _record_fields(advice: AdviceRecord, record: RecordInput, request: AdviceRequest) -> None:
    for name in ("subject_age_band", "subject_sex", "subject_ethnicity", "rcrp_phase", "area"):
        if getattr(record, name) is not None:
            setattr(request, name, getattr(record, name))
    advice.outcome = record.outcome
    advice.place_of_safety = record.place_of_safety
    advice.police_station_authorised = record.police_station_authorised
    advice.community_route = record.community_route
    advice.destination = record.destination
    advice.rationale = record.rationale
    advice.safeguarding = dict(record.safeguarding)
    advice.follow_up = record.follow_up


def save_draft(
    session: Session,
    request_id: int,
    clinician_id: int,
    record: RecordInput,
    *,
    now: datetime,
    actor: Actor,
) -> AdviceRecord:
    """Keep the clinician's unfinished record; nothing is checked but lengths."""
    request = _request_for_update(session, request_id)
    if request.status not in {RequestStatus.ACCEPTED, RequestStatus.CONNECTED, S.WRAP_UP}:
        raise IllegalTransition(f"Request {request.reference} is not being advised on.")
    if _accepted_offer(session, request).clinician_id != clinician_id:
        raise IllegalTransition("Only the clinician who took the request can write its record.")
    errors = {
        name: f"Must be at most {column_length(model, name)} characters."
        for model, name in (
            (AdviceRecord, "destination"),
            (AdviceRecord, "follow_up"),
            (AdviceRequest, "area"),
        )
        if len(getattr(record, name) or "") > column_length(model, name)
    }
    if errors:
        raise InvalidInput(errors)
    advice = session.scalars(
        select(AdviceRecord).where(AdviceRecord.request_id == request.id)
    ).one_or_none()
    if advice is None:
        advice = AdviceRecord(request_id=request.id, clinician_id=clinician_id, created_at=now)
        session.add(advice)
    _record_fields(advice, record, request)
    session.flush()
    record_event(
        session,
        actor,
        "record.draft_saved",
        now=now,
        request_id=request.id,
        subject=("advice_record", advice.id),
    )
    return advice


def complete_task(
    session: Session, task_id: int, user_id: int, *, now: datetime, actor: Actor
) -> Task:
    """Mark a task done: one's own, or an unowned one (which becomes one's own)."""
    task = session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"There is no task {task_id}.")
    if task.done_at is not None:
        raise IllegalTransition("This task is already done.")
    if task.owner_user_id not in {None, user_id}:
        raise IllegalTransition("This task belongs to someone else.")
    task.owner_user_id = user_id
    task.done_at = now
    task.done_by_user_id = user_id
    record_event(
        session, actor, "task.done", now=now, request_id=task.request_id, subject=("task", task.id)
    )
    session.flush()
    return task


def reassign(
    session: Session,
    request_id: int,
    clinician_id: int,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> Offer:
    """A senior offers a waiting request to a chosen clinician, withdrawing any other offer."""
    request = _request_for_update(session, request_id)
    if request.status not in WAITING:
        raise IllegalTransition(f"Request {request.reference} is no longer waiting.")
    _offerable_clinician(session, clinician_id, policy)
    pending = _pending_offer(session, request.id)
    if pending is not None:
        _withdraw_pending_offer(session, request, now=now, actor=actor)
        _move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")
    return offer_request(session, request.id, clinician_id, now=now, actor=actor, policy=policy)
