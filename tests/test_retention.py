"""Retention: a dry run first, then pseudonymisation of exactly what is past its period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from advice_line.audit import SYSTEM, record_event
from advice_line.extensions import db
from advice_line.models import (
    AdviceRequest,
    AgeBand,
    AuditEvent,
    Channel,
    Message,
    Priority,
    RequestStatus,
)
from advice_line.models import MessageDirection as Direction
from advice_line.retention import PSEUDONYMISED


def old_request(session: Session, year: int, *, child: bool = False) -> int:
    received = datetime(year, 6, 1, 12, 0, tzinfo=UTC)
    request = AdviceRequest(
        channel=Channel.SMS,
        status=RequestStatus.CLOSED,
        priority=Priority.ROUTINE,
        skills_needed=[],
        received_at=received,
        closed_at=received,
        caller_number="+447700900201",
        claimed_collar_number="MP1234",
        location="12 Acacia Avenue",
        subject_age_band=AgeBand.UNDER_18 if child else AgeBand.AGE_25_34,
    )
    session.add(request)
    session.flush()
    session.add(
        Message(
            request_id=request.id,
            direction=Direction.INBOUND,
            counterpart="+447700900201",
            body="He is at number 12",
            created_at=received,
        )
    )
    session.commit()
    return request.id


def test_a_dry_run_lists_and_apply_pseudonymises_only_what_is_due(
    app: Flask, session: Session
) -> None:
    this_year = datetime.now(UTC).year
    adult_old = old_request(session, this_year - 21)
    child_kept = old_request(session, this_year - 21, child=True)
    child_old = old_request(session, this_year - 26, child=True)
    recent = old_request(session, this_year - 1)
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["retention"])
    assert dry.exit_code == 0
    assert "2 requests are past their keeping period" in dry.output
    assert "Dry run: nothing changed." in dry.output
    session.rollback()
    assert session.scalar(select(func.count(Message.id))) == 4

    applied = runner.invoke(args=["retention", "--apply"])
    assert "Pseudonymised 2 requests" in applied.output
    session.rollback()
    for request_id in (adult_old, child_old):
        request = session.get_one(AdviceRequest, request_id)
        assert (request.caller_number, request.claimed_collar_number, request.location) == (
            None,
            None,
            PSEUDONYMISED,
        )
        assert request.subject_age_band is not None, "statistics stay"
    for request_id in (child_kept, recent):
        assert session.get_one(AdviceRequest, request_id).caller_number == "+447700900201"
    assert session.scalar(select(func.count(Message.id))) == 2
    run = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.pseudonymised")
    ).one()
    assert run.detail["requests"] == 2

    again = runner.invoke(args=["retention"])
    assert "0 requests are past their keeping period" in again.output


def test_apply_strips_identifying_audit_details_and_the_log_stays_append_only(
    app: Flask, session: Session
) -> None:
    this_year = datetime.now(UTC).year
    due, kept = old_request(session, this_year - 21), old_request(session, this_year - 1)
    for request_id in (due, kept):
        received = session.get_one(AdviceRequest, request_id).received_at
        record_event(
            session,
            SYSTEM,
            "request.intake",
            now=received,
            request_id=request_id,
            detail={"claimed_collar_number": "MP1234", "claimed_force": "Met", "in_dwelling": True},
        )
        record_event(
            session,
            SYSTEM,
            "request.cancelled",
            now=received,
            request_id=request_id,
            detail={"from": "queued", "to": "cancelled", "reason": "Duplicate of Mr Smith's call"},
        )
    session.commit()

    applied = app.test_cli_runner().invoke(args=["retention", "--apply"])
    assert "Pseudonymised 1 requests" in applied.output
    session.rollback()

    def details(request_id: int) -> dict[str, dict[str, object]]:
        events = session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id))
        return {event.action: event.detail for event in events}

    assert details(due) == {
        "request.intake": {"in_dwelling": True},
        "request.cancelled": {"from": "queued", "to": "cancelled"},
    }
    assert details(kept)["request.intake"]["claimed_collar_number"] == "MP1234"
    run = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.pseudonymised")
    ).one()
    assert run.detail["audit_details_pseudonymised"] == 2
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET detail = '{}'"))
    session.expire_all()
    assert details(kept)["request.cancelled"]["reason"] == "Duplicate of Mr Smith's call"
