"""The same person across requests: a clinician links a request to an earlier one
(docs/DOMAIN.md#finding-earlier-requests)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.access import openable
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotFound
from advice_line.lifecycle.steps import request_for_update
from advice_line.models import AdviceRequest, Offer, OfferOutcome, Role, SamePersonLink

#: The most requests a person's chain is followed to (a guard, far above any real chain).
CHAIN_LIMIT = 500


def same_person(session: Session, request_id: int) -> set[int]:
    """Every request linked to this one, directly or through others (not itself)."""
    found, frontier = {request_id}, {request_id}
    while frontier and len(found) < CHAIN_LIMIT:
        link = SamePersonLink
        pairs = session.execute(
            select(link.earlier_request_id, link.later_request_id).where(
                or_(link.earlier_request_id.in_(frontier), link.later_request_id.in_(frontier))
            )
        ).all()
        frontier = {i for pair in pairs for i in pair} - found
        found |= frontier
    return found - {request_id}


def _taken_by(session: Session, request: AdviceRequest, clinician_id: int) -> None:
    """Refuse anyone but the clinician who took the request."""
    taker = session.scalar(
        select(Offer.clinician_id).where(
            Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED
        )
    )
    if taker is None or taker != clinician_id:
        raise IllegalTransition(
            f"Only the clinician who took {request.reference} can link it to other requests."
        )


def link_same_person(
    session: Session,
    request_id: int,
    earlier_id: int,
    *,
    clinician_id: int,
    user_id: int,
    role: Role,
    now: datetime,
    actor: Actor,
) -> SamePersonLink:
    """Record that ``request_id`` concerns the same person as the earlier ``earlier_id``."""
    request = request_for_update(session, request_id)
    _taken_by(session, request, clinician_id)
    if earlier_id == request.id:
        raise InvalidInput({"earlier": "A request cannot be linked to itself."})
    earlier = session.get(AdviceRequest, earlier_id)
    if earlier is None:
        raise NotFound(f"There is no request AL-{earlier_id}.")
    if earlier.id > request.id:
        raise InvalidInput(
            {"earlier": f"Give an earlier request: {earlier.reference} came after this one."}
        )
    rule = openable(user_id=user_id, role=role, clinician_id=clinician_id)
    if session.scalar(select(AdviceRequest.id).where(AdviceRequest.id == earlier.id, rule)) is None:
        raise IllegalTransition(
            f"You may not open {earlier.reference}, so you cannot link it: ask a senior clinician."
        )
    if earlier.id in same_person(session, request.id):
        raise IllegalTransition(f"{earlier.reference} is already linked as the same person.")
    link = SamePersonLink(
        earlier_request_id=earlier.id,
        later_request_id=request.id,
        linked_by_user_id=user_id,
        linked_at=now,
    )
    session.add(link)
    session.flush()
    record_event(
        session,
        actor,
        "request.same_person_linked",
        now=now,
        request_id=request.id,
        subject=("advice_request", earlier.id),
        detail={"earlier": earlier.reference},
    )
    session.flush()
    return link


def unlink_same_person(
    session: Session,
    request_id: int,
    other_id: int,
    *,
    clinician_id: int,
    now: datetime,
    actor: Actor,
) -> None:
    """Remove the link between ``request_id`` and ``other_id`` (made in error)."""
    request = request_for_update(session, request_id)
    _taken_by(session, request, clinician_id)
    pair = sorted((request.id, other_id))
    link = session.scalars(
        select(SamePersonLink).where(
            and_(
                SamePersonLink.earlier_request_id == pair[0],
                SamePersonLink.later_request_id == pair[1],
            )
        )
    ).one_or_none()
    if link is None:
        raise NotFound(f"{request.reference} is not linked to AL-{other_id}.")
    session.delete(link)
    record_event(
        session,
        actor,
        "request.same_person_unlinked",
        now=now,
        request_id=request.id,
        subject=("advice_request", other_id),
        detail={"other": f"AL-{other_id}"},
    )
    session.flush()
