"""``flask rota``: the rota from scripts, and the scheduler's duty of making patterns' shifts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from flask import current_app

from advice_line.admin.cli import run_command
from advice_line.admin.routes import bp
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle import rota
from advice_line.lifecycle.coverage import coverage
from advice_line.lifecycle.rota_import import import_shifts, parse_date, parse_time
from advice_line.models import Shift
from advice_line.transaction import Work, current_policy


@bp.cli.group("rota")
def rota_group() -> None:
    """The on-call rota: shifts, patterns, import and coverage."""


@rota_group.command("add")
@click.argument("username")
@click.argument("day", metavar="DATE")
@click.argument("start")
@click.argument("end")
def add_command(username: str, day: str, start: str, end: str) -> None:
    """Add a shift: DATE (2026-12-01 or 01/12/2026), START and END as HH:MM London time."""

    def add(work: Work) -> Shift:
        clinician = rota.find_clinician(work.session, username)
        return rota.add_shift(
            work.session,
            clinician.id,
            parse_date(day),
            parse_time(start, "start"),
            parse_time(end, "end"),
            now=work.now,
            actor=work.actor,
        )

    shift = run_command("rota add", add)
    click.echo(f"Shift {shift.id} added: {rota.describe(shift.starts_at, shift.ends_at)}.")


@rota_group.command("remove")
@click.argument("shift_id", type=int)
def remove_command(shift_id: int) -> None:
    """Remove a shift that has not started."""
    run_command(
        "rota remove",
        lambda work: rota.remove_shift(work.session, shift_id, now=work.now, actor=work.actor),
    )
    click.echo(f"Shift {shift_id} removed.")


@rota_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Import shifts from a CSV file (docs/ROTA-IMPORT.md): all of them, or none."""
    count = run_command(
        "rota import",
        lambda work: import_shifts(work.session, file.read_bytes(), now=work.now, actor=work.actor),
    )
    click.echo(f"{count} shifts imported.")


@rota_group.command("generate")
@click.option("--days", type=click.IntRange(1, 366), default=None, help="Days ahead to make.")
def generate_command(days: int | None) -> None:
    """Make the weekly patterns' shifts for the next ROTA_GENERATE_DAYS days (or --days)."""
    made = run_command(
        "rota generate",
        lambda work: rota.generate_shifts(
            work.session,
            days=days or current_app.config["ROTA_GENERATE_DAYS"],
            now=work.now,
            actor=work.actor,
        ),
    )
    click.echo(f"{made} shifts made from the patterns.")


@rota_group.command("coverage")
@click.option("--days", type=click.IntRange(1, 60), default=14, help="Days ahead to look.")
def coverage_command(days: int) -> None:
    """Print the hours ahead with no qualifying clinician, or none with a skill."""
    gaps = coverage(db.session(), now=utcnow(), hours=days * 24, policy=current_policy()).gaps()
    for gap in gaps:
        click.echo(str(gap))
    if not gaps:
        click.echo(f"Every hour of the next {days} days is covered.")


def make_pattern_shifts(now: datetime) -> None:
    """The scheduler's duty: make the patterns' shifts not yet made (one cheap query when
    there are none)."""
    session = db.session()
    try:
        rota.generate_shifts(
            session,
            days=current_app.config["ROTA_GENERATE_DAYS"],
            now=now,
            actor=Actor("scheduler", source="rota"),
        )
        session.commit()
    finally:
        session.rollback()
