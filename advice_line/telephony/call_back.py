"""A clinician calls the officer back: both phones ring into the request's conference."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.lifecycle import FINISHED
from advice_line.lifecycle.errors import InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AdviceRequest, Channel, Clinician, RequestStatus
from advice_line.telephony.dialer import ring_clinician_in, ring_officer_back
from advice_line.telephony.legs import clinician_on_phone


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

    A waiting request is taken by the clinician; an ended one (the officer hung up) is
    followed by a new request for the same officer, linked in the audit log.
    """
    request = session.get(AdviceRequest, request_id)
    if request is None or not request.caller_number:
        raise InvalidInput({"request": "There is no officer number to call back."})
    if request.status in FINISHED:
        original = request
        request = lifecycle.create_request(
            session,
            lifecycle.NewRequest(
                channel=Channel.VOICE,
                officer_id=original.officer_id,
                officer_verified=original.officer_verified,
                caller_number=original.caller_number,
                incident_ref=original.incident_ref,
                location=original.location,
                in_dwelling=original.in_dwelling,
                risk_to_life=original.risk_to_life,
                subject_under_18=original.subject_under_18,
            ),
            now=now,
            actor=actor,
        )
        record_event(
            session,
            actor,
            "request.call_back_of",
            now=now,
            request_id=request.id,
            subject=("advice_request", original.id),
        )
        lifecycle.queue_request(session, request.id, now=now, actor=actor, policy=policy)
    if request.status == RequestStatus.ACCEPTED:
        lifecycle.request_call_back(session, request.id, now=now, actor=actor)
        clinician = session.get_one(Clinician, clinician_id)
        assert request.caller_number is not None
        ring_officer_back(session, request.id, request.caller_number)
        if clinician.phone and not clinician_on_phone(session, request.id, clinician_id):
            ring_clinician_in(session, request.id, clinician_id, clinician.phone)
        return request
    lifecycle.request_call_back(session, request.id, now=now, actor=actor)
    lifecycle.accept(session, request.id, clinician_id, now=now, actor=actor, policy=policy)
    return request
