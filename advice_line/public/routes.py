"""The landing page: live figures (no personal data) only for signed-in staff."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.routing import views
from advice_line.transaction import current_policy

bp = Blueprint("public", __name__, template_folder="templates")


@bp.get("/")
def index() -> str:
    """Say what the line is; to signed-in staff, also the live figures in London time."""
    if not current_user.is_authenticated:
        return render_template("public/index.html")
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
