"""Manager reports on a large history: dashboard query time and export memory.

Seeds ``BENCH_REQUESTS`` past requests (a million by default) with ``seed_history``, then
times the dashboard for the last 28 days, a year, three years (the longest period the
form allows; also with filters) and the whole history, and streams
the whole CSV export while tracing the memory Python allocates for it.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from datetime import timedelta
from typing import Any

from advice_line import create_app
from advice_line.clock import LONDON, utcnow
from advice_line.demo import seed_demo
from advice_line.extensions import db
from advice_line.history import seed_history
from advice_line.models import AgeBand, Channel
from advice_line.reports.exports import requests_lines
from advice_line.reports.forms import MAX_DAYS
from advice_line.reports.queries import Filters, dashboard
from benchmarks.databases import on_each_database

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1000000"))


def _measure(url: str, label: str) -> list[tuple[str, str]]:
    app = create_app(
        {"TESTING": True},
        env={"ADVICE_LINE_MODE": "demo", "DATABASE_URL": url, "SCHEDULER_IN_PROCESS": "false"},
    )
    rows = []
    with app.app_context():
        db.create_all()
        session = db.session()
        now = utcnow()
        seed_demo(session, now=now)
        started = time.perf_counter()
        seed_history(session, REQUESTS, end=now, forces=app.config["FORCES"])
        session.commit()
        rows.append(
            (
                f"seed-history {REQUESTS:,} requests, {label} (s)",
                f"{time.perf_counter() - started:.0f}",
            )
        )
        today = now.astimezone(LONDON).date()
        periods: tuple[tuple[str, int, dict[str, Any]], ...] = (
            ("28 days", 28, {}),
            ("1 year", 365, {}),
            ("3 years, the longest the form allows", MAX_DAYS, {}),
            ("3 years, one force", MAX_DAYS, {"force": app.config["FORCES"][0]}),
            (
                "3 years, under 18 by SMS",
                MAX_DAYS,
                {"age_band": AgeBand.UNDER_18, "channel": Channel.SMS},
            ),
            ("all history", 366 * 20, {}),
        )
        for name, days, chosen in periods:
            filters = Filters(start=today - timedelta(days=days), end=today, **chosen)
            started = time.perf_counter()
            board = dashboard(session, filters)
            rows.append(
                (
                    f"dashboard, {name} ({board.volume:,} requests), {label} (ms)",
                    f"{(time.perf_counter() - started) * 1000:.0f}",
                )
            )
        tracemalloc.start()
        started = time.perf_counter()
        lines = 0
        with app.test_request_context():
            for _ in requests_lines(
                db.session(), Filters(start=today - timedelta(days=366 * 20), end=today)
            ):
                lines += 1
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rows.append(
            (
                f"CSV export, {lines - 1:,} rows, {label}: seconds / peak Python memory (MiB)",
                f"{time.perf_counter() - started:.0f} / {peak:.0f}",
            )
        )
        db.session.remove()
        db.engine.dispose()
    return rows


def run() -> list[tuple[str, str]]:
    """Measure on SQLite, then PostgreSQL if reachable."""
    return on_each_database(_measure)
