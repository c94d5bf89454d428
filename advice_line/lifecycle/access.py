"""Who may open a request (docs/DOMAIN.md#tasks), as one SQL condition on its row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, or_, true

from advice_line.models import AdviceRequest, Offer, OfferOutcome, Role, Task


def openable(*, user_id: int, role: Role, clinician_id: int | None) -> Any:
    """A condition on ``AdviceRequest`` true for each request this console user may open: a
    senior any; a clinician one they took, one with an open task, or one they took or
    finished a task on."""
    if role == Role.SENIOR_CLINICIAN:
        return true()
    taken = exists().where(
        Offer.request_id == AdviceRequest.id,
        Offer.clinician_id == clinician_id,
        Offer.outcome == OfferOutcome.ACCEPTED,
    )
    tasked = exists().where(
        Task.request_id == AdviceRequest.id,
        or_(
            Task.done_at.is_(None),
            Task.owner_user_id == user_id,
            Task.done_by_user_id == user_id,
        ),
    )
    return or_(taken, tasked) if clinician_id is not None else tasked
