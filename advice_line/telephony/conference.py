"""Others on a request's call: a third party rung in, held, dropped, handed the call; a
senior listening, coaching or joined.

``on_conference_changed`` answers ``signals.conference_changed`` inside the domain step's
transaction: a third party or a senior to ring becomes an outbox row (purposes
``THIRD_PARTY``, ``SUPERVISOR``); the conference changes (hold, release, mute, coach, who
ends the conference on leaving) run after the commit through the gateway's participant
update, best effort and logged on failure.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.jobs import after_commit
from advice_line.models import (
    ENDED_CALL_STATUSES,
    AdviceRequest,
    CallLeg,
    LegRole,
    Offer,
    OfferOutcome,
    OutboxItem,
    OutboxPurpose,
    RequestStatus,
    Supervision,
)
from advice_line.telephony import legs, outbox
from advice_line.telephony.gateway import gateway
from advice_line.telephony.protocol import GatewayError, ParticipantChange
from advice_line.telephony.urls import webhook_url

log = logging.getLogger(__name__)
ACTOR = Actor("telephony")


def _live_sids(
    session: Session, request_id: int, role: LegRole, clinician_id: int | None = None
) -> list[str]:
    query = select(CallLeg.call_sid).where(
        CallLeg.request_id == request_id,
        CallLeg.role == role,
        CallLeg.status.not_in(ENDED_CALL_STATUSES),
    )
    if clinician_id is not None:
        query = query.where(CallLeg.clinician_id == clinician_id)
    return list(session.scalars(query))


def on_conference_changed(request: AdviceRequest, action: str, **about: Any) -> None:
    """Ring the third party, or change the conference once the step commits."""
    session = object_session(request)
    if session is None:
        return
    if action == "bring_in":
        outbox.enqueue(
            session,
            OutboxPurpose.THIRD_PARTY,
            request_id=request.id,
            to=about["number"],
            url=lambda item_id: webhook_url(
                "twilio.third_party_answered",
                request_id=request.id,
                private=int(about["private"]),
                item=item_id,
            ),
            clinician_id=about["clinician_id"],
            noted={
                "leg": {
                    "role": LegRole.THIRD_PARTY.value,
                    "label": about["label"],
                    "private": about["private"],
                }
            },
        )
        return
    if action == "supervise":
        outbox.enqueue(
            session,
            OutboxPurpose.SUPERVISOR,
            request_id=request.id,
            to=about["number"],
            url=lambda item_id: webhook_url(
                "twilio.supervisor_answered", request_id=request.id, item=item_id
            ),
            clinician_id=about["clinician_id"],
            noted={"leg": {"role": LegRole.SUPERVISOR.value, "label": about["label"]}},
        )
        return
    leg: CallLeg = about["leg"]
    if action == "supervision" and leg.supervision is not None:
        holder = accepted_clinician(session, request.id)
        coached = _live_sids(session, request.id, LegRole.CLINICIAN, holder)
        after_commit(
            session,
            functools.partial(
                supervise, request.reference, leg.call_sid, leg.supervision, coached[:1]
            ),
        )
    if action in {"stop", "drop"}:
        after_commit(session, functools.partial(hang_up, leg.call_sid))
    if leg.role == LegRole.SUPERVISOR:
        return
    officer = _live_sids(session, request.id, LegRole.OFFICER)
    # Whoever was private, the officer is released: a release that failed before is retried.
    if action in {"together", "drop", "left", "handed_over"}:
        after_commit(session, functools.partial(hold, request.reference, officer, held=False))
    if action == "handed_over":
        leaving = _live_sids(session, request.id, LegRole.CLINICIAN, about["previous"])
        after_commit(
            session, functools.partial(hand_call_over, request.reference, leg.call_sid, leaving)
        )


def hold(room: str, call_sids: list[str], *, held: bool) -> None:
    """Put calls in the conference on hold (hold music) or take them off it."""
    for call_sid in call_sids:
        try:
            gateway().update_participant(room, call_sid, ParticipantChange(hold=held))
        except GatewayError as error:
            log.warning(
                "could not %s %s in %s: %s", "hold" if held else "release", call_sid, room, error
            )


def hang_up(call_sid: str) -> None:
    """End a third party's or a senior's call, ringing or answered."""
    try:
        gateway().end_call(call_sid)
    except GatewayError as error:
        log.warning("could not hang up on %s: %s", call_sid, error)


def supervise(room: str, call_sid: str, mode: Supervision, coached: list[str]) -> None:
    """Let the senior coach the clinician's call (heard by them only) or speak to all."""
    coach = mode == Supervision.COACH and bool(coached)
    try:
        change = ParticipantChange(
            muted=False, coaching=coach, call_sid_to_coach=coached[0] if coach else None
        )
        gateway().update_participant(room, call_sid, change)
    except GatewayError as error:
        log.warning("could not let %s %s in %s: %s", call_sid, mode.value, room, error)


def accepted_clinician(session: Session, request_id: int) -> int | None:
    """The clinician who holds the request."""
    return session.scalar(
        select(Offer.clinician_id).where(
            Offer.request_id == request_id, Offer.outcome == OfferOutcome.ACCEPTED
        )
    )


def hand_call_over(room: str, successor: str, leaving: list[str]) -> None:
    """Make the successor's exit end the conference, not the previous holder's; they leave."""
    way_out = gateway()
    try:
        way_out.update_participant(room, successor, ParticipantChange(end_conference_on_exit=True))
        for call_sid in leaving:
            way_out.update_participant(
                room, call_sid, ParticipantChange(end_conference_on_exit=False)
            )
            way_out.end_call(call_sid)
    except GatewayError as error:
        log.error("handover in %s not completed on the phone: %s", room, error)


def third_party_joins(
    session: Session, request_id: int, call_sid: str, *, private: bool, item_id: int | None
) -> AdviceRequest | None:
    """Note that the third party answered; the request if they are still wanted on the call.

    Their leg is recorded here if the answer came before the outbox recorded it (``item_id``
    is the outbox row that rang them)."""
    request = session.get_one(AdviceRequest, request_id)
    legs.answered_leg(
        session,
        call_sid,
        item_id=item_id,
        request_id=request_id,
        purpose=OutboxPurpose.THIRD_PARTY,
    )
    leg = legs.leg_joined(session, call_sid, now=utcnow())
    if request.status != RequestStatus.CONNECTED or (
        leg is not None and leg.status in ENDED_CALL_STATUSES
    ):
        return None
    if private:
        officer = _live_sids(session, request.id, LegRole.OFFICER)
        after_commit(session, functools.partial(hold, request.reference, officer, held=True))
    return request


def _still_connected(session: Session, item: OutboxItem) -> bool:
    return session.get_one(AdviceRequest, item.request_id).status == RequestStatus.CONNECTED


def _third_party_not_reached(session: Session, item: OutboxItem, error: str) -> None:
    log.warning("could not ring the third party on request %s: %s", item.request_id, error)
    lifecycle.third_party_not_reached(
        session,
        item.request_id,
        item.payload["leg"]["label"],
        item.clinician_id,
        now=utcnow(),
        actor=ACTOR,
    )


def _supervisor_not_reached(_session: Session, item: OutboxItem, error: str) -> None:
    log.warning("could not ring the senior on request %s: %s", item.request_id, error)


DELIVERIES = {
    OutboxPurpose.THIRD_PARTY: outbox.Delivery(
        _still_connected, legs.leg_placed, _third_party_not_reached
    ),
    OutboxPurpose.SUPERVISOR: outbox.Delivery(
        _still_connected, legs.leg_placed, _supervisor_not_reached
    ),
}
