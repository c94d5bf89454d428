"""Nothing lost while the database is down: webhooks kept in the local spool, applied once."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, close_all_sessions

from advice_line.cli import build_scheduler
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.models import (
    AdviceRequest,
    AuditEvent,
    Message,
    MessageDirection,
    Officer,
    OfficerPhone,
    RequestStatus,
    Task,
    TaskKind,
)
from advice_line.spool import MAX_ATTEMPTS, Spool, spool_of
from advice_line.telephony import messages
from advice_line.telephony.twiml import RISK_ADVICE
from advice_line.telephony.webhooks.spooling import replay
from drills.postgres_down import proxied
from tests.fake_twilio import FakeTwilio
from tests.twilio_support import FALLBACK, LINE_NUMBER, Twilio, gather_action, twilio_env

OFFICER = "+447700900401"
#: Another officer: a text from the caller's own number would join the call's request.
ANOTHER_OFFICER = "+447700900402"
KEPT = "your message is received"


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url)


class Outage:
    """The database refuses every new connection, as a stopped server does, until restored."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _refuse(dialect: Any, *_: object) -> None:
        raise dialect.loaded_dbapi.OperationalError("connection refused (the test's outage)")

    def cut(self) -> None:
        """Drop the pool's connections and refuse new ones."""
        db.session.remove()
        self.engine.dispose()
        event.listen(self.engine, "do_connect", self._refuse)

    def restore(self) -> None:
        """Accept connections again."""
        event.remove(self.engine, "do_connect", self._refuse)


@pytest.fixture
def outage(app: Flask) -> Iterator[Outage]:
    down = Outage(db.engine)
    yield down
    if event.contains(db.engine, "do_connect", down._refuse):
        down.restore()
    close_all_sessions()  # the test's own session was replaced when the outage began


_sids = iter(range(1, 10**6))


def sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):032x}"


def text(twilio: Twilio, body: str, message_sid: str | None = None, sender: str = OFFICER) -> str:
    params = {"MessageSid": message_sid or sid("SM"), "From": sender, "To": LINE_NUMBER}
    response = twilio.post("/twilio/sms", {**params, "Body": body})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def status(twilio: Twilio, call_sid: str, call_status: str, sequence: int) -> int:
    params = {"CallSid": call_sid, "CallStatus": call_status, "SequenceNumber": str(sequence)}
    return twilio.post("/twilio/voice/status", params).status_code


def queued_call(twilio: Twilio, call_sid: str) -> None:
    """An unknown officer rings and answers every question until they wait in the queue."""
    params = {"CallSid": call_sid, "From": OFFICER, "To": LINE_NUMBER}
    document = twilio.twiml("/twilio/voice", params)
    while document.find(".//Conference") is None:
        document = twilio.twiml(gather_action(document), {**params, "Digits": "2"})


def fresh(session: Session) -> Session:
    session.rollback()
    session.expire_all()
    return session


def count(session: Session, what: Any, *where: Any) -> int:
    return int(fresh(session).scalar(select(func.count(what)).where(*where)) or 0)


def test_an_sms_sent_while_the_database_is_down_is_stored_once_when_it_returns(
    app: Flask, twilio: Twilio, session: Session, outage: Outage, fake_twilio: FakeTwilio
) -> None:
    outage.cut()
    message_sid = sid("SM")
    reply = text(twilio, "Man on the bridge parapet, distressed", message_sid)
    received_by = datetime.now(UTC)
    assert KEPT in reply
    assert FALLBACK in reply
    assert RISK_ADVICE in reply
    outage.restore()
    assert count(session, Message.id) == 0, "nothing is stored until the replay"
    assert spool_of(app).depth().waiting == 1

    assert replay(app) == 1
    inbound = (
        fresh(session).scalars(select(Message).where(Message.message_sid == message_sid)).one()
    )
    request = session.get_one(AdviceRequest, inbound.request_id)
    assert request.status == RequestStatus.QUEUED
    assert inbound.created_at <= received_by, "it keeps the time it was received"
    assert request.received_at == inbound.created_at == request.waiting_since
    (late,) = fake_twilio.messages()
    assert late.form["To"] == OFFICER
    assert request.reference in late.form["Body"], "the officer is told the reference later"
    assert spool_of(app).depth().waiting == 0
    assert replay(app) == 0


def test_an_entry_applied_again_after_a_crash_before_its_delete_changes_nothing(
    app: Flask, twilio: Twilio, session: Session, outage: Outage, fake_twilio: FakeTwilio
) -> None:
    queued_call(twilio, call_sid := sid("CA"))
    outage.cut()
    text(twilio, "Woman at the station", message_sid := sid("SM"))
    assert status(twilio, call_sid, "completed", 5) == 204
    outage.restore()
    spool = spool_of(app)
    kept = [spool.oldest(), None]
    assert kept[0] is not None
    removed: list[int] = []
    real_remove = Spool.remove

    def crash_before_delete(self: Spool, entry_id: int) -> None:
        removed.append(entry_id)
        raise KeyboardInterrupt("killed between commit and delete")

    Spool.remove = crash_before_delete  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            replay(app)
    finally:
        Spool.remove = real_remove  # type: ignore[method-assign]
    assert count(session, Message.id, Message.message_sid == message_sid) == 1
    assert spool.depth().waiting == 2, "the committed entry is still in the spool"

    assert replay(app) == 2
    assert count(session, Message.id, Message.message_sid == message_sid) == 1
    assert count(session, Message.id, Message.direction == MessageDirection.OUTBOUND) == 1
    assert len(fake_twilio.messages()) == 1, "the late reply is sent once"
    assert count(session, Task.id, Task.kind == TaskKind.CALL_BACK) == 1
    assert count(session, AuditEvent.id, AuditEvent.action == "request.abandoned") == 1


def test_a_hang_up_while_the_database_is_down_marks_the_call_abandoned_when_it_returns(
    app: Flask, twilio: Twilio, session: Session, outage: Outage
) -> None:
    queued_call(twilio, call_sid := sid("CA"))
    outage.cut()
    assert status(twilio, call_sid, "completed", 5) == 204, "Twilio gets what it expects"
    hung_up_by = datetime.now(UTC)
    outage.restore()
    (request,) = fresh(session).scalars(select(AdviceRequest)).all()
    assert request.status == RequestStatus.QUEUED

    assert replay(app) == 1
    request = fresh(session).get_one(AdviceRequest, request.id)
    assert request.status == RequestStatus.ABANDONED
    task = session.scalars(select(Task)).one()
    assert task.kind == TaskKind.CALL_BACK
    assert request.abandoned_at is not None
    assert request.abandoned_at <= hung_up_by, "abandoned when the officer hung up, not later"


def test_a_call_during_the_outage_is_put_through_and_its_status_waits_behind_its_intake(
    app: Flask, twilio: Twilio, session: Session, outage: Outage
) -> None:
    outage.cut()
    call_sid = sid("CA")
    document = twilio.twiml("/twilio/voice", {"CallSid": call_sid, "From": OFFICER})
    assert document.findtext("Dial") == FALLBACK
    outage.restore()
    # The database is back, but the call's intake still waits in the spool: its status
    # callback queues behind it (and sets the replay going) rather than find no call.
    assert status(twilio, call_sid, "completed", 3) == 204
    assert spool_of(app).depth().waiting == 0
    (request,) = fresh(session).scalars(select(AdviceRequest)).all()
    assert request.status == RequestStatus.ABANDONED
    assert request.caller_number == OFFICER
    assert count(session, Task.id, Task.kind == TaskKind.CALL_BACK) == 1
    live = twilio.twiml("/twilio/voice", {"CallSid": sid("CA"), "From": OFFICER})
    assert live.find("Gather") is not None, "with the spool empty, calls are served again"


def test_one_officer_s_messages_are_applied_in_the_order_they_came(
    app: Flask, twilio: Twilio, session: Session, outage: Outage
) -> None:
    outage.cut()
    text(twilio, "first: man on the bridge")
    text(twilio, "second: he is climbing over")
    outage.restore()
    # Back, with two waiting: the third queues behind them and sets the replay going.
    assert KEPT in text(twilio, "third: he is back on the path")
    (request,) = fresh(session).scalars(select(AdviceRequest)).all()
    bodies = session.scalars(
        select(Message.body)
        .where(Message.request_id == request.id, Message.direction == MessageDirection.INBOUND)
        .order_by(Message.created_at)
    ).all()
    assert bodies == [
        "first: man on the bridge",
        "second: he is climbing over",
        "third: he is back on the path",
    ]
    assert f"Added to {request.reference}" in text(twilio, "fourth"), "answered live again"


def test_bad_input_during_an_outage_is_refused_and_never_kept(
    app: Flask, twilio: Twilio, outage: Outage
) -> None:
    outage.cut()
    refused = [
        twilio.post("/twilio/sms", {"MessageSid": sid("SM"), "From": OFFICER}, sign=False),
        twilio.post("/twilio/sms", {"From": OFFICER, "Body": "no sid"}),
        twilio.post("/twilio/voice/status", {"CallSid": sid("CA"), "CallStatus": "exploded"}),
        twilio.post("/twilio/sms/status", {"MessageSid": sid("SM"), "MessageStatus": "<b>"}),
        twilio.post("/twilio/voice", {"From": OFFICER}),
    ]
    assert [r.status_code for r in refused] == [403, 400, 400, 400, 400]
    assert not Path(app.config["SPOOL_PATH"]).exists()


def test_a_refusal_or_a_bug_is_not_mistaken_for_an_outage(
    app: Flask, twilio: Twilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    def duplicate(*_: object, **__: object) -> str:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(messages, "receive_message", duplicate)
    reply = text(twilio, "Man on the bridge")
    assert "cannot take messages right now" in reply
    assert FALLBACK in reply
    assert spool_of(app).depth().waiting == 0


def test_if_the_spool_fails_too_the_officer_is_still_told_what_to_do(
    twilio: Twilio, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*_: object, **__: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spool, "keep", disk_full)
    outage.cut()
    reply = text(twilio, "Man on the bridge")
    assert "cannot take messages right now" in reply
    assert FALLBACK in reply
    assert RISK_ADVICE in reply


def test_the_spool_is_private_and_keeps_nothing_once_applied(
    app: Flask, twilio: Twilio, outage: Outage
) -> None:
    outage.cut()
    text(twilio, "Unmistakable-marker-3141 on the bridge")
    outage.restore()
    path = Path(app.config["SPOOL_PATH"])
    files = [p for p in path.parent.glob(path.name + "*") if not p.name.endswith(".lock")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert any(b"Unmistakable-marker-3141" in p.read_bytes() for p in files)
    replay(app)
    files = list(path.parent.glob(path.name + "*"))
    assert not any(b"Unmistakable-marker-3141" in p.read_bytes() for p in files)


def test_an_entry_that_keeps_failing_is_held_aside_and_the_rest_go_on(
    app: Flask, twilio: Twilio, session: Session
) -> None:
    spool = spool_of(app)
    now = datetime.now(UTC)
    spool.keep("twilio.call_status", "/twilio/voice/status", {"CallStatus": "exploded"}, now)
    spool.keep(
        "twilio.incoming_message",
        "/twilio/sms",
        {"MessageSid": sid("SM"), "From": OFFICER, "Body": "after the bad one"},
        now,
    )
    for _ in range(MAX_ATTEMPTS - 1):
        assert replay(app) == 0, "order is kept while the first entry may still succeed"
    assert replay(app) == 1
    assert spool.depth().held == 1
    assert spool.depth().waiting == 0
    assert count(session, Message.id, Message.direction == MessageDirection.INBOUND) == 1
    health = twilio.client.get("/healthz").get_json()
    assert health["status"] == "degraded"
    assert health["checks"]["spool"] == {"ok": False, "error": "entries held aside"}
    scraped = twilio.client.get("/metrics").get_data(as_text=True)
    assert "advice_line_spool_held 1.0" in scraped


def test_metrics_count_what_waits_and_healthz_shows_no_figures(
    app: Flask, twilio: Twilio, outage: Outage
) -> None:
    outage.cut()
    text(twilio, "Man on the bridge")
    text(twilio, "He is calmer")
    scraped = twilio.client.get("/metrics").get_data(as_text=True)
    assert "advice_line_spool_waiting 2.0" in scraped
    assert OFFICER not in scraped
    assert "calmer" not in scraped
    health = twilio.client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["checks"]["spool"] == {"ok": True}


def test_the_scheduler_replays_the_spool_before_it_routes(
    app: Flask, twilio: Twilio, session: Session, outage: Outage
) -> None:
    outage.cut()
    text(twilio, "Man on the bridge")
    outage.restore()
    build_scheduler("test").tick()
    assert count(session, Message.id, Message.direction == MessageDirection.INBOUND) == 1
    assert spool_of(app).depth().waiting == 0


KEEP_THEN_DIE = """
import os, signal, sys
from datetime import UTC, datetime
from advice_line.spool import Spool
spool = Spool(sys.argv[1])
for n in range(int(sys.argv[2])):
    spool.keep("twilio.incoming_message", "/twilio/sms", {"Body": f"{os.getpid()}:{n}"},
               datetime.now(UTC))
if sys.argv[3] == "hold-the-replay":
    with spool.replaying() as ours:
        assert ours
        os.kill(os.getpid(), signal.SIGKILL)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_spool_survives_kill_9_with_several_processes_writing(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "spool.sqlite3"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", KEEP_THEN_DIE, str(path), "40", mode],
            cwd=Path(__file__).resolve().parent.parent,
        )
        for mode in ("just-die", "just-die", "hold-the-replay")
    ]
    assert [w.wait(timeout=60) for w in writers] == [-9, -9, -9]
    spool = Spool(path)
    assert spool.depth().waiting == 120, "every entry written before the kill is there"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with spool.replaying() as ours:
        assert ours, "a killed replayer's lock is released by the kernel"
        with spool.replaying() as also:
            assert not also, "only one replayer at a time"


def test_a_spool_file_moved_away_is_not_written_through_a_stale_connection(
    tmp_path: Path,
) -> None:
    """The process keeps its connection open: once the file is moved away, entries kept
    afterwards go to a new spool file, not through the old connection into the moved one."""
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    spool.keep("webhooks.message", "/twilio/sms", {"Body": "first"}, utcnow(), "+447700900001")
    assert spool.queue_of("+447700900001") == (True, True)
    path.rename(tmp_path / "inspected.sqlite3")
    assert spool.queue_of("+447700900001") == (False, False), "the spool is empty again"
    spool.keep("webhooks.message", "/twilio/sms", {"Body": "second"}, utcnow(), "+447700900002")
    assert Spool(path).depth().waiting == 1, "the new entry is in the spool file, not the moved one"


@pytest.mark.postgres
def test_a_real_postgresql_outage_loses_nothing(
    postgres_url: str, app_maker: Callable[..., Flask], fake_twilio: FakeTwilio
) -> None:
    with proxied(postgres_url) as database:
        app = app_maker(database.url, **twilio_env(fake_twilio.base_url))
        twilio = Twilio(app, app.test_client())
        with app.app_context():
            queued_call(twilio, call_sid := sid("CA"))
            database.cut()
            reply = text(twilio, "Man on the bridge", message_sid := sid("SM"), ANOTHER_OFFICER)
            assert KEPT in reply
            assert status(twilio, call_sid, "completed", 5) == 204
            database.restore()
            assert replay(app) == 2
            session = db.session()
            assert count(session, Message.id, Message.message_sid == message_sid) == 1
            statuses = fresh(session).scalars(select(AdviceRequest.status)).all()
            assert sorted(statuses) == sorted([RequestStatus.ABANDONED, RequestStatus.QUEUED])
            db.session.remove()


def test_officer_lookup_still_works_for_a_replayed_message(
    app: Flask, twilio: Twilio, session: Session, outage: Outage
) -> None:
    officer = Officer(
        force="Metropolitan Police Service",
        collar_number="MP9876",
        created_at=datetime.now(UTC),
        phones=[OfficerPhone(number=OFFICER, verified_at=datetime.now(UTC))],
    )
    session.add(officer)
    session.commit()
    officer_id = officer.id
    outage.cut()
    text(twilio, "Man on the bridge")
    outage.restore()
    replay(app)
    request = fresh(session).scalars(select(AdviceRequest)).one()
    assert request.officer_verified
    assert request.officer_id == officer_id


def test_another_officer_is_served_live_while_one_thread_waits_in_the_spool(
    app: Flask, twilio: Twilio, session: Session, outage: Outage
) -> None:
    outage.cut()
    text(twilio, "Man on the bridge")
    outage.restore()
    reply = text(twilio, "Woman at the station", sender=ANOTHER_OFFICER)
    assert "Advice Line: your request is AL-" in reply, "not held up by someone else's thread"
    assert spool_of(app).depth().waiting == 0, "and the live answer set the replay going"
    assert count(session, Message.id, Message.direction == MessageDirection.INBOUND) == 2
