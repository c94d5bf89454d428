"""A clinician calls the officer back, on the request itself: both phones ring into its
conference (docs/DOMAIN.md#tasks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.lifecycle import FINISHED
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotFound
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AdviceRequest, Clinician, RequestStatus
from advice_line.routing import views
from advice_line.telephony.browser_phone import ring_clinician_in
from advice_line.telephony.dialer import officer_being_called, ring_officer_back
from advice_line.telephony.legs import clinician_on_phone

HELD = frozenset({RequestStatus.ACCEPTED, RequestStatus.CONNECTED})


def call_officer_back(
    session: Session,
    request_id: int,
    clinician_id: int,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> AdviceRequest:
    """Ring the officer and the clinician into the request's conference.

    An abandoned request is taken again by the clinician (``lifecycle.call_back``), a
    waiting one is taken; on one the clinician holds, the officer is rung unless a call to
    them is already on its way or live, so a second click places no second call.
    """
    found = session.get(AdviceRequest, request_id)
    if found is None:
        raise NotFound(f"There is no advice request {request_id}.")
    if not found.caller_number:
        raise InvalidInput({"request": "There is no officer number to call back."})
    if found.status == RequestStatus.ABANDONED:
        return lifecycle.call_back(
            session, request_id, clinician_id, now=now, actor=actor, policy=policy
        )
    if found.status in FINISHED:
        raise IllegalTransition(
            f"{found.reference} is {found.status.value}: it is over, and is not called back."
        )
    if found.status not in HELD:
        lifecycle.request_call_back(session, request_id, now=now, actor=actor)
        lifecycle.accept(session, request_id, clinician_id, now=now, actor=actor, policy=policy)
        return found
    request = session.get_one(
        AdviceRequest, request_id, with_for_update=True, populate_existing=True
    )
    if views.holder(session, request_id) != clinician_id:
        raise IllegalTransition(f"Only the clinician who holds {request.reference} may call.")
    if officer_being_called(session, request_id):
        raise IllegalTransition(f"The officer on {request.reference} is already being called.")
    if request.status == RequestStatus.ACCEPTED:
        lifecycle.request_call_back(session, request_id, now=now, actor=actor)
    assert request.caller_number is not None
    ring_officer_back(session, request_id, request.caller_number)
    clinician = session.get_one(Clinician, clinician_id)
    if not clinician_on_phone(session, request_id, clinician_id):
        ring_clinician_in(session, request_id, clinician)
    return request
