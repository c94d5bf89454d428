"""The routing engine: who gets offered which request next (docs/DOMAIN.md#priorities)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from advice_line.audit import Actor
from advice_line.lifecycle import offer_request
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRequest,
    Clinician,
    ClinicianSkill,
    EscalationLevel,
    Offer,
    RequestStatus,
    Skill,
    User,
)
from advice_line.routing.views import QUEUE_ORDER, available_now, count_available


def eligible_clinicians(
    request: AdviceRequest, *, now: datetime, policy: RoutingPolicy
) -> Select[Clinician]:
    """Clinicians who may be offered the request now, longest idle first."""
    recently_offered = (
        select(Offer.id)
        .where(
            Offer.request_id == request.id,
            Offer.clinician_id == Clinician.id,
            Offer.responded_at > now - policy.reoffer_after,
        )
        .exists()
    )
    query = (
        select(Clinician)
        .join(User, User.id == Clinician.user_id)
        .where(*available_now(now, policy), ~recently_offered)
    )
    if request.escalation_level == EscalationLevel.SKILLS_REQUIRED:
        for skill in request.skills_needed:
            query = query.where(
                select(ClinicianSkill.clinician_id)
                .where(
                    ClinicianSkill.clinician_id == Clinician.id,
                    ClinicianSkill.skill == Skill(skill),
                )
                .exists()
            )
    return query.order_by(Clinician.idle_since.asc(), Clinician.id.asc())


def choose_clinician(
    session: Session, request: AdviceRequest, *, now: datetime, policy: RoutingPolicy
) -> Clinician | None:
    """Pick the longest-idle eligible clinician, skipping any another process holds."""
    query = (
        eligible_clinicians(request, now=now, policy=policy)
        .limit(1)
        .with_for_update(skip_locked=True, of=Clinician)
    )
    return session.scalars(query).first()


def queue_order() -> Select[int]:
    """Queued request ids in the order they are served: priority, then oldest first."""
    return (
        select(AdviceRequest.id)
        .where(AdviceRequest.status == RequestStatus.QUEUED)
        .order_by(*QUEUE_ORDER)
    )


def dispatch(
    session: Session, *, now: datetime, policy: RoutingPolicy, actor: Actor
) -> list[Offer]:
    """Offer every queued request that has an eligible clinician, in queue order."""
    offers: list[Offer] = []
    free = count_available(session, now=now, policy=policy)
    if free == 0:
        return offers
    for request_id in session.scalars(queue_order()).all():
        request = session.scalars(
            select(AdviceRequest)
            .where(AdviceRequest.id == request_id, AdviceRequest.status == RequestStatus.QUEUED)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).one_or_none()
        if request is None:
            continue
        clinician = choose_clinician(session, request, now=now, policy=policy)
        if clinician is None:
            continue
        offers.append(
            offer_request(session, request.id, clinician.id, now=now, actor=actor, policy=policy)
        )
        free -= 1
        if free == 0:
            break
    return offers
