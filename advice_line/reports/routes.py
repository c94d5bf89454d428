"""Manager pages: dashboard, the requests behind a figure, follow-up, one request's
timeline, CSV exports and the live board."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from advice_line.audit import record_view
from advice_line.auth.roles import roles_required
from advice_line.clock import LONDON, utcnow
from advice_line.console.recordings import playable
from advice_line.extensions import db
from advice_line.lifecycle.detentions import deadline
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Clinician,
    Detention,
    RequestFact,
    Role,
    User,
)
from advice_line.reports import labels, story
from advice_line.reports.charts import charts, week_span
from advice_line.reports.drill import requests_behind, where_params
from advice_line.reports.exports import EXPORTS, count
from advice_line.reports.forms import DrillForm, FilterForm, default_period
from advice_line.reports.queries import DAYS, TARGETS, Dashboard, dashboard, follow_up
from advice_line.reports.queue_history import queue_over_the_hour
from advice_line.routing import views
from advice_line.transaction import Work, current_policy, run, signed_in_actor, viewed

R = TypeVar("R")
F = TypeVar("F", bound=FilterForm)
bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")
bp.add_app_template_filter(labels.label, "label")
bp.add_app_template_filter(labels.hour_label, "hour_label")
bp.add_app_template_filter(labels.where_label, "where_label")


def _choices() -> dict[str, Any]:
    """The forces (configured, and any a request has had) and clinicians to pick from."""
    session = db.session()
    known = session.scalars(
        select(RequestFact.force).where(RequestFact.force.is_not(None)).distinct()
    )
    forces = sorted({*current_app.config["FORCES"], *known})
    clinicians = session.execute(
        select(Clinician.id, User.display_name)
        .join(User, User.id == Clinician.user_id)
        .order_by(User.display_name)
    ).all()
    return {"forces": forces, "clinicians": [(i, name) for i, name in clinicians]}


def _form(kind: type[F]) -> F:
    """The form from the query string (the last 28 days when there is none)."""
    if request.args:
        return kind(formdata=request.args, **_choices())
    today = utcnow().astimezone(LONDON).date()
    return kind(formdata=MultiDict(default_period(today)), **_choices())


def _audited(what: str, show: Callable[[Work], tuple[R, int]], form: FilterForm | None = None) -> R:
    """Run ``show`` (what to answer, and how many rows it shows) and record the view with
    the manager, the filters as applied and the row count, in one transaction."""

    def step(work: Work) -> R:
        answer, rows = show(work)
        detail: dict[str, Any] = {"rows": rows}
        if form is not None:
            detail = {"filters": form.given(), **detail}
        record_view(work.session, work.actor, what, now=work.now, detail=detail)
        return answer

    return run(step, signed_in_actor())


def _link_to_requests(form: FilterForm) -> Callable[..., str]:
    """Builds the link to the requests behind a figure: the filters as given, plus more."""
    given = form.given()

    def link(**more: object) -> str:
        return url_for("reports.requests_list", **{**given, **more})  # type: ignore[arg-type]

    return link


@bp.get("/")
@roles_required(Role.MANAGER)
def index() -> ResponseReturnValue:
    """The dashboard for a period and filters; the view is audited (rows: the requests)."""
    form = _form(FilterForm)
    if not form.validate():
        return render_template("reports/dashboard.html", form=form, board=None), 400

    def show(work: Work) -> tuple[Dashboard, int]:
        board = dashboard(work.session, form.filters(), now=work.now)
        return board, board.volume

    board = _audited("report.dashboard_viewed", show, form)
    link = _link_to_requests(form)
    target = int(current_policy().answer_target.total_seconds())
    return render_template(
        "reports/dashboard.html",
        form=form,
        board=board,
        targets=TARGETS,
        answer_target=target,
        days=DAYS,
        link=link,
        week_span=lambda week: week_span(week, form.start.data, form.end.data),
        where_params=where_params,
        charts=charts(board, link, start=form.start.data, end=form.end.data, target_seconds=target),
        query=request.query_string.decode(),
    )


@bp.get("/requests")
@roles_required(Role.MANAGER)
def requests_list() -> ResponseReturnValue:
    """The requests behind a dashboard figure, a page at a time; the view is audited."""
    form = _form(DrillForm)
    if not form.validate():
        # The filters are the dashboard's fields: the summary links there, as they were sent.
        return render_template(
            "reports/requests.html",
            form=form,
            found=None,
            dashboard_link=url_for("reports.index", **form.filters_sent(request.args)),  # type: ignore[arg-type]
            dashboard_fields=form.filter_names(),
        ), 400
    drill = form.drill()

    def show(work: Work) -> tuple[Any, int]:
        page = form.page.data or 1
        found = requests_behind(work.session, form.filters(), drill, page=page, now=work.now)
        return found, len(found.rows)

    found = _audited("report.requests_listed", show, form)
    link = _link_to_requests(form)
    return render_template(
        "reports/requests.html",
        form=form,
        found=found,
        link=link,
        dashboard_link=url_for("reports.index", **form.filters_given()),  # type: ignore[arg-type]
    )


@bp.get("/follow-up")
@roles_required(Role.MANAGER)
def follow_up_page() -> str:
    """Open, overdue and safeguarding tasks; records without a destination. The view is
    audited (rows: open tasks and records listed); the page is drawn before the commit, so
    what it shows is not reloaded row by row after it."""

    def show(work: Work) -> tuple[str, int]:
        lists = follow_up(work.session, work.now)
        page = render_template("reports/follow_up.html", lists=lists, now=work.now)
        return page, len(lists.open_tasks) + len(lists.without_destination)

    return _audited("report.follow_up_viewed", show)


@bp.get("/requests/<int:request_id>")
@roles_required(Role.MANAGER)
def timeline(request_id: int) -> str:
    """Everything that happened to one request, told in order with the time each step
    took; the view itself is audited."""
    advice = db.session.get(AdviceRequest, request_id)
    if advice is None:
        abort(404)
    viewed("request.viewed", signed_in_actor(), request_id=advice.id)
    record = db.session.scalar(select(AdviceRecord).where(AdviceRecord.request_id == advice.id))
    detention = db.session.scalar(select(Detention).where(Detention.request_id == advice.id))
    return render_template(
        "reports/timeline.html",
        advice=advice,
        record=record,
        detention=detention,
        deadline=deadline(detention, current_policy()) if detention else None,
        entries=story.timeline(db.session(), advice),
        summary=story.summary(advice),
        recordings=playable(db.session(), advice.id),
    )


def _export(kind: str, what: str, name: str) -> ResponseReturnValue:
    """Record the export (manager, filters, rows), commit, then stream its lines.

    The rows are counted first with a COUNT over the same query and the event is written
    before the first line is sent, because an event written once a streamed response has
    begun would need a session and transaction of its own. So the count is of the rows as
    they stood a moment before the stream read them: a request received in between could
    make the two differ by that request.
    """
    form = _form(FilterForm)
    if not form.validate():
        return {"errors": form.errors}, 400
    filters = form.filters()
    query, lines = EXPORTS[kind]

    def show(work: Work) -> tuple[Response, int]:
        response = Response(
            stream_with_context(lines(db.session(), filters)),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
        return response, count(work.session, query(filters))

    return _audited(what, show, form)


@bp.get("/requests.csv")
@roles_required(Role.MANAGER)
def export_requests() -> ResponseReturnValue:
    """One row per request in the period, streamed in batches; the export is audited."""
    return _export("requests", "report.requests_exported", "advice-line-requests.csv")


@bp.get("/s136-return.csv")
@roles_required(Role.MANAGER)
def export_s136_return() -> ResponseReturnValue:
    """Detentions the officers reported, shaped like the Home Office s136 return (times in
    London time); the export is audited."""
    return _export("s136-return", "report.s136_return_exported", "s136-return.csv")


@bp.get("/live")
@roles_required(Role.MANAGER)
def live_board() -> str:
    """Queue length, longest wait, clinicians available and breaches as tiles against the
    targets, pushed live."""
    policy = current_policy()
    now = utcnow()
    board = views.board(db.session(), now, policy)
    return render_template(
        "reports/live.html",
        board=board,
        queue_hour=queue_over_the_hour(db.session(), now, board["waiting"]),
        answer_target=int(policy.answer_target.total_seconds()),
    )
