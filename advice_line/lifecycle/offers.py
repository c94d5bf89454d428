"""Offers: offer a request, accept, take, decline, expire, fail to connect, reassign."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import (
    AlreadyTaken,
    IllegalTransition,
    MissingSkills,
    NotFound,
)
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import require_qualifying
from advice_line.lifecycle.steps import (
    TAKEN,
    WAITING,
    accepted_offer,
    change_clinician_status,
    clinician_for_update,
    end_offer,
    give_request,
    move,
    offerable_clinician,
    pending_offer,
    request_for_update,
    require,
    withdraw_pending_offer,
)
from advice_line.models import (
    AdviceRequest,
    Clinician,
    ClinicianStatus,
    EscalationLevel,
    Offer,
    OfferOutcome,
    RequestStatus,
    Role,
    Skill,
    Timer,
    TimerKind,
)


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
    change_clinician_status(session, clinician, status, now=now, actor=actor)


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
    clinician = clinician_for_update(session, offer.clinician_id)
    end_offer(session, offer, outcome, now=now, actor=actor)
    _count_miss(session, clinician, now=now, actor=actor, policy=policy)
    move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")


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
    request = request_for_update(session, request_id)
    require(request, RequestStatus.OFFERED)
    clinician = offerable_clinician(session, clinician_id, policy, now=now)
    offer = Offer(
        request=request,
        clinician=clinician,
        offered_at=now,
        expires_at=now + policy.offer_timeout,
    )
    session.add(offer)
    change_clinician_status(session, clinician, ClinicianStatus.OFFERED, now=now, actor=actor)
    move(
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
    request = request_for_update(session, request_id)
    if request.status in TAKEN:
        raise AlreadyTaken(f"Request {request.reference} has already been taken.")
    if request.status == RequestStatus.ABANDONED:  # taken again only to call the officer back
        raise IllegalTransition(f"Request {request.reference} is abandoned: call the officer back.")
    require(request, RequestStatus.ACCEPTED)
    clinician = clinician_for_update(session, clinician_id)
    require_qualifying(clinician, policy, now=now)
    offer = pending_offer(session, request.id)
    if offer is None or offer.clinician_id != clinician.id:
        if clinician.status != ClinicianStatus.AVAILABLE:
            raise IllegalTransition(
                f"Clinician {clinician.id} is {clinician.status.value} and cannot take "
                "another request."
            )
        if offer is not None:
            withdraw_pending_offer(session, request, now=now, actor=actor)
        offer = Offer(request=request, clinician=clinician, offered_at=now, expires_at=now)
        session.add(offer)
    try:
        give_request(session, request, offer, now=now, actor=actor, action="accepted")
    except IntegrityError as error:
        raise AlreadyTaken(f"Request {request.reference} has already been taken.") from error
    signals.offer_changed.send(offer, action="accepted")
    return offer


def _own_pending_offer(session: Session, offer_id: int) -> tuple[AdviceRequest, Offer]:
    """Lock the offer's request, then return both if the offer is still pending."""
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(f"There is no offer {offer_id}.")
    request = request_for_update(session, offer.request_id)
    session.refresh(offer)
    if offer.outcome is not None:
        raise IllegalTransition(f"The offer of {request.reference} is already {offer.outcome}.")
    return request, offer


def take(
    session: Session,
    request_id: int,
    clinician_id: int,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
    override_skills: bool = False,
) -> Offer:
    """Take a request at a console: one's own offer, or a waiting one from the queue.

    From the queue, the clinician must hold every skill the request still requires
    (docs/DOMAIN.md#escalation-levels); a senior clinician may take it anyway by saying
    so, and that is audited with the skills missing. One's own offer was matched by the
    routing engine and needs no check.
    """
    request = request_for_update(session, request_id)
    clinician = clinician_for_update(session, clinician_id)
    require_qualifying(clinician, policy, now=now)
    missing = _missing_skills(session, request, clinician)
    if missing and not override_skills:
        raise MissingSkills(
            f"Request {request.reference} still needs a clinician with these skills: "
            f"{', '.join(missing)}."
        )
    if missing and clinician.user.role != Role.SENIOR_CLINICIAN:
        raise IllegalTransition(
            "Only a senior clinician may take a request without the skills it needs."
        )
    offer = accept(session, request.id, clinician.id, now=now, actor=actor, policy=policy)
    if missing:
        record_event(
            session,
            actor,
            "request.skills_overridden",
            now=now,
            request_id=request.id,
            subject=("advice_request", request.id),
            detail={"override": True, "clinician_id": clinician.id, "missing_skills": missing},
        )
        session.flush()
    return offer


def _missing_skills(session: Session, request: AdviceRequest, clinician: Clinician) -> list[str]:
    """The skills a waiting request still requires that the clinician lacks, if taking it."""
    if request.status not in WAITING or request.escalation_level != EscalationLevel.SKILLS_REQUIRED:
        return []
    offer = pending_offer(session, request.id)
    if offer is not None and offer.clinician_id == clinician.id:
        return []
    needed = {Skill(skill) for skill in request.skills_needed}
    return sorted(skill.value for skill in needed - clinician.skill_set)


def accept_offer(
    session: Session, offer_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> Offer:
    """Accept one's own offer by its id (the phone's whisper): only while it is pending.

    A withdrawn, declined or timed-out offer touches only itself: a late answer to it
    never takes the request, even one waiting again or offered to someone else.
    """
    request, offer = _own_pending_offer(session, offer_id)
    return accept(session, request.id, offer.clinician_id, now=now, actor=actor, policy=policy)


def decline_offer(
    session: Session, offer_id: int, clinician_id: int, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Decline one's own pending offer; the request goes back to its place in the queue."""
    request, offer = _own_pending_offer(session, offer_id)
    if offer.clinician_id != clinician_id:
        raise IllegalTransition("Only the clinician it was offered to can decline an offer.")
    clinician = clinician_for_update(session, clinician_id)
    end_offer(session, offer, OfferOutcome.DECLINED, now=now, actor=actor)
    clinician.missed_offers_in_row = 0
    change_clinician_status(session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor)
    move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")
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


def fail_connection(
    session: Session, request_id: int, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> AdviceRequest:
    """The accepting clinician could not be connected: count a miss and re-queue."""
    request = request_for_update(session, request_id)
    if request.status != RequestStatus.ACCEPTED:
        raise IllegalTransition(f"Request {request.reference} is not waiting to connect.")
    _requeue_after_miss(
        session,
        request,
        accepted_offer(session, request),
        OfferOutcome.FAILED,
        now=now,
        actor=actor,
        policy=policy,
    )
    return request


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
    request = request_for_update(session, request_id)
    if request.status not in WAITING:
        raise IllegalTransition(f"Request {request.reference} is no longer waiting.")
    offerable_clinician(session, clinician_id, policy, now=now)
    pending = pending_offer(session, request.id)
    if pending is not None:
        withdraw_pending_offer(session, request, now=now, actor=actor)
        move(session, request, RequestStatus.QUEUED, now=now, actor=actor, action="requeued")
    return offer_request(session, request.id, clinician_id, now=now, actor=actor, policy=policy)
