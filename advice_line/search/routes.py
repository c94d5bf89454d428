"""The search page: requests by reference, collar number, officer, phone number and date."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from advice_line.audit import record_view
from advice_line.auth.roles import roles_required
from advice_line.models import Role
from advice_line.search.forms import SearchForm
from advice_line.search.queries import Viewer, search
from advice_line.transaction import Work, run, signed_in_actor

bp = Blueprint("search", __name__, template_folder="templates")


def current_viewer() -> Viewer:
    """The signed-in user as the searches see them."""
    return Viewer(current_user.id, current_user.role, current_user.clinician_id)


def request_link(request_id: int) -> str:
    """Where this user opens a request: a manager its timeline, a clinician the request page."""
    if current_user.role == Role.MANAGER:
        return url_for("reports.timeline", request_id=request_id)
    return url_for("console.request_page", request_id=request_id)


@bp.get("/search")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN, Role.MANAGER)
def search_page() -> ResponseReturnValue:
    """The form, and with a search its results a page at a time; each search is audited
    with what was searched for and the requests shown."""
    if not request.args:
        return render_template("search/search.html", form=SearchForm(formdata=None), found=None)
    form = SearchForm(formdata=request.args)
    if not form.validate():
        return render_template("search/search.html", form=form, found=None), 400
    viewer = current_viewer()

    def find(work: Work) -> Any:
        found = search(work.session, form.criteria(), viewer, page=form.page.data or 1)
        shown = [advice.reference for advice, _ in found.rows]
        detail = {"searched": form.audited(), "rows": found.total, "shown": shown}
        record_view(work.session, work.actor, "request.searched", now=work.now, detail=detail)
        return render_template(
            "search/search.html",
            form=form,
            found=found,
            link=lambda **more: url_for("search.search_page", **{**form.given(), **more}),
            request_link=request_link,
        )

    page: ResponseReturnValue = run(find, signed_in_actor())
    return page
