"""The read side of calls in progress: who is on each, and any senior listening (the floor)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from advice_line.models import (
    ENDED_CALL_STATUSES,
    AdviceRequest,
    CallLeg,
    Channel,
    Clinician,
    LegRole,
    Offer,
    OfferOutcome,
    RequestStatus,
    User,
)


def live_calls(session: Session) -> list[dict[str, Any]]:
    """Connected phone calls, with their clinician and any senior on them."""
    rows = session.execute(
        select(AdviceRequest, User.display_name)
        .join(
            Offer,
            and_(Offer.request_id == AdviceRequest.id, Offer.outcome == OfferOutcome.ACCEPTED),
        )
        .join(Clinician, Clinician.id == Offer.clinician_id)
        .join(User, User.id == Clinician.user_id)
        .where(
            AdviceRequest.status == RequestStatus.CONNECTED,
            AdviceRequest.channel == Channel.VOICE,
        )
        .order_by(AdviceRequest.id)
    ).all()
    seniors = {
        leg.request_id: leg
        for leg in session.scalars(
            select(CallLeg).where(
                CallLeg.role == LegRole.SUPERVISOR,
                CallLeg.status.not_in(ENDED_CALL_STATUSES),
                CallLeg.request_id.in_([request.id for request, _ in rows]),
            )
        )
    }
    return [
        {"id": request.id, "reference": request.reference, "clinician": name}
        | {"senior": seniors.get(request.id)}
        for request, name in rows
    ]
