"""Twenty clinicians accept one request at the same moment: exactly one wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from advice_line import lifecycle
from advice_line.extensions import db
from advice_line.lifecycle.errors import AlreadyTaken
from advice_line.models import AuditEvent, Offer, OfferOutcome
from tests.builders import ACTOR, POLICY, T0, add_clinician, add_request, complete_input

CLINICIANS = 20
ROUNDS = 100


@pytest.mark.slow
def test_twenty_simultaneous_accepts_have_exactly_one_winner(session: Session) -> None:
    clinician_ids = [add_clinician(session).id for _ in range(CLINICIANS)]
    session.commit()
    own_session = sessionmaker(bind=db.engine)

    def attempt(request_id: int, clinician_id: int, barrier: threading.Barrier) -> str:
        with own_session() as mine:
            barrier.wait()
            try:
                with mine.begin():
                    lifecycle.accept(
                        mine, request_id, clinician_id, now=T0, actor=ACTOR, policy=POLICY
                    )
            except AlreadyTaken as refused:
                return str(refused)
            return "won"

    with ThreadPoolExecutor(CLINICIANS) as pool:
        for round_number in range(ROUNDS):
            now = T0 + timedelta(minutes=round_number)
            request = add_request(session, now=now)
            session.commit()
            request_id = request.id
            barrier = threading.Barrier(CLINICIANS)
            results = list(
                pool.map(attempt, [request_id] * CLINICIANS, clinician_ids, [barrier] * CLINICIANS)
            )
            taken = f"Request AL-{request_id} has already been taken."
            assert sorted(results) == [taken] * (CLINICIANS - 1) + ["won"]
            session.commit()  # end this session's read snapshot
            accepted = session.scalars(
                select(Offer).where(
                    Offer.request_id == request.id, Offer.outcome == OfferOutcome.ACCEPTED
                )
            ).all()
            assert len(accepted) == 1
            winner = accepted[0].clinician_id
            lifecycle.connect(session, request.id, now=now, actor=ACTOR)
            lifecycle.end_call(session, request.id, now=now, actor=ACTOR)
            lifecycle.complete_record(
                session, request.id, winner, complete_input(), now=now, actor=ACTOR, policy=POLICY
            )
            session.commit()
    accepted_events = session.scalar(
        select(func.count(AuditEvent.id)).where(AuditEvent.action == "request.accepted")
    )
    assert accepted_events == ROUNDS


def test_the_database_refuses_a_second_accepted_offer(session: Session) -> None:
    first, second = add_clinician(session), add_clinician(session)
    request = add_request(session)
    for clinician in (first, second):
        session.add(
            Offer(
                request_id=request.id,
                clinician_id=clinician.id,
                offered_at=T0,
                expires_at=T0,
                outcome=OfferOutcome.ACCEPTED,
                responded_at=T0,
            )
        )
    with pytest.raises(IntegrityError):
        session.flush()


def test_the_database_refuses_two_pending_offers_for_one_clinician(session: Session) -> None:
    clinician = add_clinician(session)
    for _ in range(2):
        request = add_request(session)
        session.add(
            Offer(request_id=request.id, clinician_id=clinician.id, offered_at=T0, expires_at=T0)
        )
    with pytest.raises(IntegrityError):
        session.flush()
