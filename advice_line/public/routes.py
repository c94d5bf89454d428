"""The landing page (no personal data)."""

from __future__ import annotations

from flask import Blueprint, render_template

from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.routing import views
from advice_line.transaction import current_policy

bp = Blueprint("public", __name__, template_folder="templates")


@bp.get("/")
def index() -> str:
    """Show queue length, longest wait and clinicians available, in London time."""
    now = utcnow()
    board = views.board(db.session(), now, current_policy())
    return render_template(
        "public/index.html",
        now=now,
        waiting=board["waiting"],
        longest_wait=board["longest_wait_seconds"],
        available=board["available"],
        in_progress=views.count_in_hand(db.session()),
    )
