"""Flask commands: seed-demo, seed-history, retention, export and scheduler (``flask
staff`` and ``deactivate-user`` are administration's: ``advice_line/admin/staff_cli.py``).

Long runs show a progress bar on standard error (click's, which stays quiet when standard
error is not a terminal), so what a command writes to standard output stays clean."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from types import FrameType
from typing import IO, Any

import click
from flask import Blueprint, Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from advice_line import recording_store, retention
from advice_line.admin.rota_cli import make_pattern_shifts
from advice_line.audit import Actor, record_view
from advice_line.clock import utcnow
from advice_line.database import owner_engine
from advice_line.demo import DEMO_PASSWORD, demo_logins, seed_demo
from advice_line.extensions import db
from advice_line.history import seed_history
from advice_line.reports.exports import EXPORTS, count
from advice_line.reports.forms import MAX_DAYS
from advice_line.reports.queries import Filters
from advice_line.retention import RetentionRules
from advice_line.routing.scheduler import Scheduler
from advice_line.telephony import outbox, recordings
from advice_line.telephony.webhooks import spooling
from advice_line.transaction import current_policy

bp = Blueprint("cli", __name__, cli_group=None)


@contextmanager
def progress_bar(length: int, label: str) -> Iterator[Any]:
    """A progress bar of ``length`` steps on standard error."""
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar


@bp.cli.command("seed-demo")
def seed_demo_command() -> None:
    """Add demo staff, rota and officers (demo mode only), then print the logins."""
    if current_app.config["ADVICE_LINE_MODE"] != "demo":
        raise click.ClickException("seed-demo runs only with ADVICE_LINE_MODE=demo")
    seeded = seed_demo(db.session(), now=utcnow())
    db.session.commit()
    click.echo("Demo data added." if seeded else "Demo data already present; nothing added.")
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for username, role, name in demo_logins():
        click.echo(f"  {username:<8} {role:<17} {name}")


@bp.cli.command("seed-history")
@click.option(
    "--requests",
    "count",
    type=click.IntRange(1, 5_000_000),
    default=10_000,
    show_default=True,
    help="How many past requests to generate.",
)
def seed_history_command(count: int) -> None:
    """Generate realistic past requests for reports (demo mode only)."""
    if current_app.config["ADVICE_LINE_MODE"] != "demo":
        raise click.ClickException("seed-history runs only with ADVICE_LINE_MODE=demo")
    started = time.perf_counter()
    try:
        with progress_bar(count, "Generating past requests") as bar:
            seed_history(
                db.session(),
                count,
                end=utcnow(),
                forces=current_app.config["FORCES"],
                progress=bar.update,
            )
    except ValueError as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"Added {count} past requests in {time.perf_counter() - started:.1f} s.")


@bp.cli.command("retention")
@click.option("--apply", is_flag=True, help="Pseudonymise (without it: a dry run).")
def retention_command(apply: bool) -> None:
    """List, then with --apply pseudonymise, requests past their keeping period.

    Runs as the tables' owner (``OWNER_DATABASE_URL``): only the owner may open the audit
    log's pseudonymisation window.
    """
    rules = RetentionRules(
        adult_years=current_app.config["RETENTION_ADULT_YEARS"],
        child_years=current_app.config["RETENTION_CHILD_YEARS"],
        death_years=current_app.config["RETENTION_DEATH_YEARS"],
    )
    now = utcnow()
    with owner_engine(db.engine, current_app.config) as engine, Session(engine) as session:
        ids = retention.due(session, now, rules)
        click.echo(
            f"{len(ids)} requests are past their keeping period (adults {rules.adult_years} "
            f"years after last contact; under-18s until they are {rules.child_years}, or "
            f"{rules.child_years} years if the age is unknown; {rules.death_years} years "
            "after a recorded death)."
        )
        if not apply:
            click.echo("Dry run: nothing changed. Run with --apply to pseudonymise them.")
            return
        actor = Actor("system", source="flask retention")
        with progress_bar(len(ids), "Pseudonymising") as bar:
            done = retention.pseudonymise(
                session,
                ids,
                now=now,
                actor=actor,
                rules=rules,
                recordings=recording_store.store(),
                progress=bar.update,
            )
        session.commit()
    click.echo(f"Pseudonymised {done} requests; the run is in the audit log.")


@bp.cli.command("export")
@click.argument("kind", type=click.Choice(sorted(EXPORTS)))
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option(
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="Where to write the CSV (standard output by default).",
)
def export_command(kind: str, start: datetime, end: datetime, output: IO[str]) -> None:
    """Write an export (requests or s136-return) for London dates --from to --to.

    The columns are those of the reports' download (docs/DATA-DICTIONARY.md); the export
    is audited as the system, with the period and the rows.
    """
    filters = _period(start.date(), end.date())
    query, lines = EXPORTS[kind]
    session = db.session()
    rows = count(session, query(filters))
    given = {"start": filters.start.isoformat(), "end": filters.end.isoformat()}
    record_view(
        session,
        Actor("system", source="flask export"),
        f"report.{kind.replace('-', '_')}_exported",
        now=utcnow(),
        detail={"filters": given, "rows": rows},
    )
    db.session.commit()
    with progress_bar(rows, f"Exporting {kind}") as bar:
        for line in lines(session, filters, bar.update):
            output.write(line)
    click.echo(f"Exported {rows} rows.", err=True)


def _period(start: date, end: date) -> Filters:
    """The period of an export from the command line, refused as the dashboard refuses it."""
    if end < start:
        raise click.BadParameter("--to must not be before --from.", param_hint="--to")
    if (end - start).days > MAX_DAYS:
        raise click.BadParameter("Choose a period of at most three years.", param_hint="--to")
    return Filters(start=start, end=end)


def build_scheduler(name: str) -> Scheduler:
    """Create a scheduler on the app's database with the configured policy and the outbox.

    Its first duty each tick is to replay this host's spool (webhooks kept while the
    database was down), so they are applied before timers fire and requests are routed;
    its second, to place the outbox's due calls and messages; its third, to make the
    rota patterns' shifts not yet made; its fourth, to fetch recordings from Twilio.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return Scheduler(
        sessionmaker(bind=db.engine),
        current_policy(),
        name=name,
        interval=current_app.config["SCHEDULER_INTERVAL_SECONDS"],
        context=app.app_context,
        duties=(
            lambda _now: spooling.replay(app),
            outbox.send_due,
            make_pattern_shifts,
            recordings.fetch_due,
        ),
    )


@bp.cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run one tick and exit.")
def scheduler_command(once: bool) -> None:
    """Fire durable timers and route requests until stopped (SIGTERM or Ctrl-C)."""
    scheduler = build_scheduler(f"{socket.gethostname()}:{os.getpid()}:cli")
    if once:
        scheduler.tick()
        return

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheduler.run_forever()
