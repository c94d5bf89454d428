"""How long an officer waits for the line to ring a clinician: request queued to call placed.

Each officer texts the line (one at a time); the reply means the request is stored and
queued. The in-process scheduler offers it to a phone-only demo clinician, and the line
places the whisper call at the fake Twilio. The figure is the time from the reply to the
fake Twilio receiving that call, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.models import Offer
from benchmarks import QUICK
from benchmarks.databases import Rows, on_each_database
from drills.harness import ACCOUNT, TOKEN, AppServer, app_env, migrate_and_seed
from drills.load import text_the_line
from tests.fake_twilio import FakeTwilio

REQUESTS = 10 if QUICK else 40
PATIENCE = 10.0
ACTOR = Actor("system", source="dialling benchmark")
SETTINGS = {
    "SCHEDULER_IN_PROCESS": "true",
    "SCHEDULER_INTERVAL_MS": "100",
    "OFFER_TIMEOUT_SECONDS": "30",
    "MAX_MISSED_OFFERS": "1000",
    "REOFFER_AFTER_SECONDS": "0",
}


def _placed_at(twilio: FakeTwilio, engine: Engine, request_id: int) -> float | None:
    with Session(engine) as session:
        offers = set(session.scalars(select(Offer.id).where(Offer.request_id == request_id)))
    times = [
        call.at
        for call in twilio.calls()
        if any(call.form.get("Url", "").endswith(f"/whisper/{o}") for o in offers)
    ]
    return min(times) if times else None


def _cancel(engine: Engine, request_id: int) -> None:
    for _ in range(5):  # the app's scheduler may hold the same rows: try again
        try:
            with Session(engine) as session, session.begin():
                lifecycle.cancel(session, request_id, now=utcnow(), actor=ACTOR, reason="measured")
            return
        except DBAPIError:
            time.sleep(0.2)


def _measure(database_url: str, label: str) -> Rows:
    twilio = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    twilio.start()
    env = app_env(database_url, twilio.base_url, **SETTINGS)
    migrate_and_seed(env)
    engine = create_engine(database_url)
    waits: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        server = AppServer(env, Path(folder) / "dialling.log")
        server.start()
        try:
            for n in range(REQUESTS):
                queued = time.monotonic()
                _, request_id = text_the_line(server.base, f"+4477009003{n:02d}", "Need advice")
                assert request_id is not None
                placed = None
                while placed is None and time.monotonic() - queued < PATIENCE:
                    time.sleep(0.01)
                    placed = _placed_at(twilio, engine, request_id)
                if placed is not None:
                    waits.append(placed - queued)
                _cancel(engine, request_id)  # the clinician is free for the next one
                time.sleep(0.3)
        finally:
            server.stop()
            engine.dispose()
            twilio.stop()
    waits.sort()
    median = statistics.median(waits) * 1000
    return [
        (f"{label}: requests rung / sent", f"{len(waits)} / {REQUESTS}"),
        (f"{label}: queued to clinician rung, median (ms)", f"{median:.0f}"),
        (f"{label}: queued to clinician rung, max (ms)", f"{waits[-1] * 1000:.0f}"),
    ]


def run() -> Rows:
    """Measure on SQLite and PostgreSQL."""
    return on_each_database(_measure)
