"""The outbox: calls and messages are stored with the change that asks for them, placed once.

Each test drives the real app against the fake Twilio (on SQLite and PostgreSQL) and counts
what reached Twilio: nothing before the commit, exactly once after, retried on Twilio's
errors, never twice when a sender died or timed out after Twilio accepted the request.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from advice_line import lifecycle, retention
from advice_line.audit import Actor
from advice_line.cli import build_scheduler
from advice_line.models import (
    CallLeg,
    Message,
    Offer,
    OfferOutcome,
    OutboxItem,
    OutboxState,
    RequestStatus,
)
from advice_line.recording_store import FolderStore
from advice_line.retention import RetentionRules
from advice_line.routing.engine import dispatch
from advice_line.telephony import gateway as gateways
from advice_line.telephony import outbox, replies
from tests.fake_twilio import FakeTwilio
from tests.test_telephony_messages import _accepted_message_request
from tests.test_telephony_voice import (  # noqa: F401 - app_env and officer are fixtures
    POLICY,
    app_env,
    call_sid,
    known_officer_call,
    officer,
    only_request,
    phone_clinician,
    route,
)
from tests.twilio_support import Twilio

ACTOR = Actor("test")
LATER = timedelta(minutes=5)  # past every backoff and claim
pytestmark = pytest.mark.usefixtures("officer")


def rows(session: Session) -> list[OutboxItem]:
    session.rollback()  # end this session's snapshot: the senders write on their own
    return list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def whisper_waiting(twilio: Twilio, session: Session, fake_twilio: FakeTwilio) -> Offer:
    """An offer to a phone-only clinician whose call Twilio failed once (500): pending."""
    known_officer_call(twilio, call_sid())
    phone_clinician(session)
    fake_twilio.fail_next(500, 20500)
    (offer,) = route(session)
    return offer


def test_the_call_is_written_with_the_offer_and_a_rollback_leaves_none(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    known_officer_call(twilio, call_sid())
    phone_clinician(session)
    dispatch(session, now=datetime.now(UTC), policy=POLICY, actor=Actor("test"))
    assert len(session.scalars(select(OutboxItem)).all()) == 1, "written in its transaction"
    assert fake_twilio.calls() == [], "and not placed before it commits"
    session.rollback()
    assert rows(session) == []
    assert fake_twilio.calls() == [], "nothing rings for a change that did not happen"
    (offer,) = route(session)
    (item,) = rows(session)
    (placed,) = fake_twilio.calls()
    assert (item.state, item.twilio_sid, item.offer_id) == (OutboxState.SENT, placed.sid, offer.id)
    assert item.attempts == 1
    leg = session.scalars(select(CallLeg).where(CallLeg.offer_id.is_not(None))).one()
    assert (leg.call_sid, leg.offer_id) == (placed.sid, offer.id)


def test_twilio_errors_are_retried_with_backoff_and_the_call_placed_once(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    offer = whisper_waiting(twilio, session, fake_twilio)
    (item,) = rows(session)
    assert (item.state, item.attempts) == (OutboxState.PENDING, 1)
    assert "500" in (item.last_error or "")
    first_retry = item.due_at
    fake_twilio.fail_next(503, 20503)
    assert outbox.send_due(first_retry) == 0
    (item,) = rows(session)
    assert (item.state, item.attempts) == (OutboxState.PENDING, 2)
    assert item.due_at - first_retry >= timedelta(seconds=2), "the wait doubles"
    assert outbox.send_due(first_retry) == 0, "not due again before its backoff"
    assert fake_twilio.calls() == []
    assert outbox.send_due(item.due_at) == 1
    (placed,) = fake_twilio.calls()
    (item,) = rows(session)
    assert (item.state, item.twilio_sid) == (OutboxState.SENT, placed.sid)
    assert session.get_one(Offer, offer.id).outcome is None, "the offer still rings"


def test_after_the_last_attempt_the_row_fails_visibly_and_the_request_moves_on(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    offer = whisper_waiting(twilio, session, fake_twilio)
    moment = datetime.now(UTC)
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        fake_twilio.fail_next(500, 20500)
        moment += LATER
        outbox.send_due(moment)
    (item,) = rows(session)
    assert (item.state, item.attempts) == (OutboxState.FAILED, outbox.MAX_ATTEMPTS)
    assert "given up" in caplog.text
    assert session.get_one(Offer, offer.id).outcome == OfferOutcome.DECLINED
    assert only_request(session).status == RequestStatus.QUEUED
    assert outbox.send_due(moment + LATER) == 0, "a failed row is never sent"


def test_a_withdrawn_offer_rings_nobody(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    offer = whisper_waiting(twilio, session, fake_twilio)
    lifecycle.expire_offer(
        session, offer.id, now=datetime.now(UTC) + LATER, actor=Actor("test"), policy=POLICY
    )
    session.commit()
    assert outbox.send_due(datetime.now(UTC) + LATER) == 0
    (item,) = rows(session)
    assert item.state == OutboxState.WITHDRAWN
    assert fake_twilio.calls() == []


def test_two_senders_racing_place_the_call_once(
    app: Flask, twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    whisper_waiting(twilio, session, fake_twilio)
    fake_twilio.delay = 0.3  # both senders are in flight at once
    moment = datetime.now(UTC) + LATER
    results: list[bool] = []

    def sender() -> None:
        with app.app_context():
            results.append(outbox.send_due(moment) == 1)

    try:
        racers = [threading.Thread(target=sender) for _ in range(3)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
    finally:
        fake_twilio.delay = 0
    assert len(fake_twilio.calls()) == 1
    assert sorted(results) == [False, False, True]
    (item,) = rows(session)
    assert item.state == OutboxState.SENT


def test_a_sender_that_died_after_twilio_accepted_is_not_repeated(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    offer = whisper_waiting(twilio, session, fake_twilio)
    (item,) = rows(session)
    crash = item.due_at
    # The dead process claimed the row and Twilio placed its call; nothing more was stored.
    assert outbox._claim(item.id, crash, "dead-host:1") is not None
    placed = gateways.gateway().place_call(item.payload["to"], item.payload["url"])
    assert outbox.send_due(crash + timedelta(seconds=5)) == 0, "its claim still holds"
    assert outbox.send_due(crash + LATER) == 1
    assert len(fake_twilio.calls()) == 1, "reconciled with Twilio's list, not placed again"
    (item,) = rows(session)
    assert (item.state, item.twilio_sid) == (OutboxState.SENT, placed.sid)
    leg = session.scalars(select(CallLeg).where(CallLeg.offer_id.is_not(None))).one()
    assert (leg.call_sid, leg.offer_id) == (placed.sid, offer.id)


def test_a_sender_that_died_before_twilio_heard_places_the_call_once(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    whisper_waiting(twilio, session, fake_twilio)
    (item,) = rows(session)
    assert outbox._claim(item.id, item.due_at, "dead-host:1") is not None
    assert outbox.send_due(item.due_at + LATER) == 1
    (placed,) = fake_twilio.calls()
    (item,) = rows(session)
    assert (item.state, item.twilio_sid) == (OutboxState.SENT, placed.sid)


def test_a_timed_out_message_that_reached_twilio_is_not_sent_again(
    app: Flask, twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    request, clinician_id = _accepted_message_request(session, twilio)
    gateways.install(app, gateways.TwilioGateway(app.config, timeout=0.2))
    fake_twilio.delay = 0.5  # Twilio stores the message; the answer comes too late
    try:
        message = replies.reply_to_officer(
            session, request.id, clinician_id, "On my way", now=datetime.now(UTC), actor=ACTOR
        )
        message_id = message.id
        session.commit()
    finally:
        fake_twilio.delay = 0
    (sent,) = fake_twilio.messages()
    (item,) = [r for r in rows(session) if r.message_id == message_id]
    assert (item.state, item.attempts) == (OutboxState.PENDING, 1)
    assert outbox.send_due(datetime.now(UTC) + LATER) == 1
    assert len(fake_twilio.messages()) == 1, "found in Twilio's list by its body"
    session.rollback()
    stored = session.get_one(Message, message_id)
    assert (stored.delivery, stored.message_sid) == ("sent", sent.sid)


def test_the_scheduler_places_what_the_nudge_could_not(
    app: Flask, twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    whisper_waiting(twilio, session, fake_twilio)
    scheduler = build_scheduler("test")
    scheduler.clock = lambda: datetime.now(UTC) + timedelta(seconds=3)  # the offer holds
    scheduler.tick()
    (placed,) = fake_twilio.calls()
    assert rows(session)[0].twilio_sid == placed.sid


def test_the_database_refuses_a_sent_row_without_twilio_s_sid(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    whisper_waiting(twilio, session, fake_twilio)
    (item,) = rows(session)
    item.state = OutboxState.SENT
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    assert rows(session)[0].state == OutboxState.PENDING


def test_retention_removes_the_outbox_rows_with_the_numbers_and_messages_they_hold(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    request, clinician_id = _accepted_message_request(session, twilio)
    replies.reply_to_officer(
        session, request.id, clinician_id, "Call 999 now", now=datetime.now(UTC), actor=ACTOR
    )
    session.commit()
    assert [row.state for row in rows(session)] == [OutboxState.SENT]
    retention.pseudonymise(
        session,
        [request.id],
        now=datetime.now(UTC),
        actor=ACTOR,
        rules=RetentionRules(),
        recordings=FolderStore(str(tmp_path)),
    )
    session.commit()
    assert rows(session) == []
    assert session.scalars(select(Message).where(Message.request_id == request.id)).all() == []
