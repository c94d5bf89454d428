"""The audit log is append-only in the database too: plain SQL cannot change or delete it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pytest
from flask import Flask
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from advice_line.audit import SYSTEM, Actor, record_event
from advice_line.extensions import db
from advice_line.models import AuditEvent
from advice_line.models.audit import RETENTION_SETTING
from tests.builders import T0, add_request

INTAKE = {"claimed_collar_number": "MP1234", "claimed_force": "Met", "risk_to_life": True}


@contextmanager
def pseudonymisation_window(session: Session) -> Iterator[Connection]:
    """Open retention's window by hand, as only the tables' owner can (the tests' role).

    On PostgreSQL the transaction-local setting, honoured for the owner only; on SQLite
    the connection flag behind the function the app registers.
    """
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        connection.execute(text("SET LOCAL advice_line.retention = 'on'"))
    connection.info[RETENTION_SETTING] = True
    try:
        yield connection
    finally:
        connection.info.pop(RETENTION_SETTING, None)
    if postgresql:
        connection.execute(text("SET LOCAL advice_line.retention = 'off'"))


def audit_rows(engine: Engine) -> list[tuple[int, str, object]]:
    with engine.connect() as connection:
        return [
            (row.id, row.action, row.detail)
            for row in connection.execute(select(AuditEvent).order_by(AuditEvent.id))
        ]


def refused(engine: Engine, statement: str) -> None:
    """Run ``statement`` in its own transaction; it must be refused as append-only."""
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))


def refused_in_window(session: Session, statement: str) -> None:
    """Run ``statement`` inside the pseudonymisation window; it must be refused all the same."""
    with (
        pytest.raises(DBAPIError, match="append-only"),
        pseudonymisation_window(session) as connection,
    ):
        connection.execute(text(statement))
    session.rollback()


def test_plain_sql_cannot_change_or_delete_audit_events(app: Flask, session: Session) -> None:
    add_request(session)
    session.commit()
    before = audit_rows(db.engine)
    assert len(before) >= 2

    refused(db.engine, "UPDATE audit_event SET action = 'request.forged'")
    refused(db.engine, "UPDATE audit_event SET detail = '{}'")
    refused(db.engine, "DELETE FROM audit_event")
    refused(db.engine, f"DELETE FROM audit_event WHERE id = {before[0][0]}")
    if db.engine.dialect.name == "postgresql":
        refused(db.engine, "TRUNCATE audit_event")
        refused(db.engine, "TRUNCATE advice_request CASCADE")

    assert audit_rows(db.engine) == before


def test_no_insert_can_replace_an_audit_event(app: Flask, session: Session) -> None:
    add_request(session)
    session.commit()
    before = audit_rows(db.engine)
    into = "INTO audit_event (id, occurred_at, actor_kind, action, detail)"
    forged = f"VALUES ({before[0][0]}, '2026-11-29 12:00:00', 'system', 'request.forged', '{{}}')"
    attacks = [f"INSERT {into} {forged} ON CONFLICT (id) DO UPDATE SET action = 'request.forged'"]
    if db.engine.dialect.name == "sqlite":
        # REPLACE deletes the row it collides with without firing DELETE triggers.
        attacks += [f"INSERT OR REPLACE {into} {forged}", f"REPLACE {into} {forged}"]
        attacks += [f"INSERT OR IGNORE {into} {forged}"]
    for attack in attacks:
        refused(db.engine, attack)
    if db.engine.dialect.name == "sqlite":  # another client, without the app's functions
        with closing(sqlite3.connect(db.engine.url.database or "")) as other:
            for attack in attacks:
                refusal = "append-only|no such function: advice_line_retention"
                with pytest.raises(sqlite3.DatabaseError, match=refusal), other:
                    other.execute(attack)

    assert audit_rows(db.engine) == before
    add_request(session)
    session.commit()
    assert len(audit_rows(db.engine)) > len(before), "new events are still appended"


def test_retention_window_only_removes_detail_keys(app: Flask, session: Session) -> None:
    request = add_request(session)
    record_event(session, SYSTEM, "request.intake", now=T0, request_id=request.id, detail=INTAKE)
    session.commit()
    event_id = session.scalars(
        select(AuditEvent.id).where(AuditEvent.action == "request.intake")
    ).one()
    where = f"WHERE id = {event_id}"

    for forged in (
        f"UPDATE audit_event SET action = 'request.forged' {where}",
        f"""UPDATE audit_event SET detail = '{{"claimed_force": "Met", "risk_to_life": false}}'
            {where}""",
        f"""UPDATE audit_event SET detail = '{{"risk_to_life": true, "added": 1}}' {where}""",
        f"DELETE FROM audit_event {where}",
    ):
        refused_in_window(session, forged)

    with pseudonymisation_window(session) as connection:
        connection.execute(
            text(f"""UPDATE audit_event SET detail = '{{"risk_to_life": true}}'
                                    {where}""")
        )
    refused_after = "UPDATE audit_event SET detail = '{}'"
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(refused_after + f" {where}"))
    session.rollback()
    assert session.get_one(AuditEvent, event_id).detail == INTAKE, "rolled back with the rest"

    with pseudonymisation_window(session) as connection:
        connection.execute(
            text(f"""UPDATE audit_event SET detail = '{{"risk_to_life": true}}'
                                    {where}""")
        )
    session.commit()
    session.expire_all()
    assert session.get_one(AuditEvent, event_id).detail == {"risk_to_life": True}
    refused(db.engine, refused_after)
    assert session.scalar(select(func.count(AuditEvent.id))) == len(audit_rows(db.engine))


CALL_SID = "CA" + "0123456789abcdef" * 2


def test_retention_window_replaces_only_a_twilio_sid_as_the_source(
    app: Flask, session: Session
) -> None:
    request = add_request(session)
    twilio, staff = Actor("twilio", source=CALL_SID), Actor("user", source="192.0.2.7")
    for actor in (twilio, staff):
        record_event(session, actor, "request.intake", now=T0, request_id=request.id, detail={})
    session.commit()
    sid_event, staff_event = session.scalars(
        select(AuditEvent.id).where(AuditEvent.action == "request.intake").order_by(AuditEvent.id)
    ).all()

    def update(source: str, event_id: int, detail: str = "{}") -> str:
        return (
            f"UPDATE audit_event SET source = {source}, detail = '{detail}' WHERE id = {event_id}"
        )

    refused(db.engine, update("'pseudonymised'", sid_event))
    for forged in (
        update("'pseudonymised'", staff_event),
        update("'CA" + "f" * 32 + "'", sid_event),
        update("NULL", sid_event),
        update("'pseudonymised'", sid_event, '{"added": 1}'),
        f"UPDATE audit_event SET source = 'pseudonymised', action = 'x' WHERE id = {sid_event}",
    ):
        refused_in_window(session, forged)

    with pseudonymisation_window(session) as connection:
        connection.execute(text(update("'pseudonymised'", sid_event)))
    session.commit()
    sources = {
        row.id: row.source for row in session.execute(select(AuditEvent.id, AuditEvent.source))
    }
    assert (sources[sid_event], sources[staff_event]) == ("pseudonymised", "192.0.2.7")
    refused(db.engine, update(f"'{CALL_SID}'", sid_event))
