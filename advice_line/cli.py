"""Flask commands: ``seed-demo``, ``seed-history``, ``retention`` and ``scheduler``."""

from __future__ import annotations

import os
import signal
import socket
import time
from types import FrameType

import click
from flask import Blueprint, Flask, current_app
from sqlalchemy.orm import sessionmaker

from advice_line import retention
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.demo import DEMO_PASSWORD, demo_logins, seed_demo
from advice_line.extensions import db
from advice_line.history import seed_history
from advice_line.retention import RetentionRules
from advice_line.routing.scheduler import Scheduler
from advice_line.telephony.webhooks import spooling
from advice_line.transaction import current_policy

bp = Blueprint("cli", __name__, cli_group=None)


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
        seed_history(db.session(), count, end=utcnow(), forces=current_app.config["FORCES"])
    except ValueError as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"Added {count} past requests in {time.perf_counter() - started:.1f} s.")


@bp.cli.command("retention")
@click.option("--apply", is_flag=True, help="Pseudonymise (without it: a dry run).")
def retention_command(apply: bool) -> None:
    """List, then with --apply pseudonymise, requests past their keeping period."""
    rules = RetentionRules(
        adult_years=current_app.config["RETENTION_ADULT_YEARS"],
        child_years=current_app.config["RETENTION_CHILD_YEARS"],
        death_years=current_app.config["RETENTION_DEATH_YEARS"],
    )
    now = utcnow()
    ids = retention.due(db.session(), now, rules)
    click.echo(
        f"{len(ids)} requests are past their keeping period (adults {rules.adult_years} years "
        f"after last contact; under-18s until they are {rules.child_years}, or "
        f"{rules.child_years} years if the age is unknown; {rules.death_years} years after a "
        "recorded death)."
    )
    if not apply:
        click.echo("Dry run: nothing changed. Run with --apply to pseudonymise them.")
        return
    done = retention.pseudonymise(
        db.session(), ids, now=now, actor=Actor("system", source="flask retention"), rules=rules
    )
    db.session.commit()
    click.echo(f"Pseudonymised {done} requests; the run is in the audit log.")


def build_scheduler(name: str) -> Scheduler:
    """Create a scheduler on the app's database with the configured policy.

    Its first duty each tick is to replay this host's spool (webhooks kept while the
    database was down), so they are applied before timers fire and requests are routed.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return Scheduler(
        sessionmaker(bind=db.engine),
        current_policy(),
        name=name,
        interval=current_app.config["SCHEDULER_INTERVAL_SECONDS"],
        context=app.app_context,
        duties=(lambda: spooling.replay(app),),
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
