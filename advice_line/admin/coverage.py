"""The coverage view (admins and managers), and the warning of a gap coming soon."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, render_template

from advice_line.admin.routes import also_for, bp, section
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle.coverage import KINDS, Gap, coverage, kind_label
from advice_line.models import Role
from advice_line.transaction import current_policy

SHOWN_HOURS = 14 * 24


@bp.get("/coverage")
@also_for(Role.MANAGER)
@section(
    "Coverage",
    "Hours in the next 14 days with no qualifying clinician on shift, or none with a skill.",
    order=40,
    roles=frozenset({Role.ADMIN, Role.MANAGER}),
)
def coverage_page() -> str:
    """The gaps as ranges, and a day-by-hour grid."""
    now = utcnow()
    found = coverage(db.session(), now=now, hours=SHOWN_HOURS, policy=current_policy())
    gaps = found.gaps()
    soon = now + timedelta(hours=current_app.config["COVERAGE_WARNING_HOURS"])
    return render_template(
        "admin/coverage.html",
        gaps=gaps,
        grid=found.grid(),
        kinds=KINDS,
        kind_label=kind_label,
        warning=[gap for gap in gaps if gap.starts_at < soon],
    )


@bp.app_template_global()
def coming_gaps() -> list[Gap]:
    """Gaps within ``COVERAGE_WARNING_HOURS`` from now (for the floor and the dashboard)."""
    hours = current_app.config["COVERAGE_WARNING_HOURS"]
    found = coverage(db.session(), now=utcnow(), hours=hours, policy=current_policy())
    return found.gaps()
