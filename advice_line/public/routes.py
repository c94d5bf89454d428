"""The landing page: what the line is and a way to sign in; staff go to their start page."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from advice_line import navigation

bp = Blueprint("public", __name__, template_folder="templates")


@bp.get("/")
def index() -> ResponseReturnValue:
    """Say what the line is (nothing live); signed-in staff go to their role's start page."""
    if current_user.is_authenticated:
        return redirect(navigation.start_page(current_user.role))
    return render_template("public/index.html")
