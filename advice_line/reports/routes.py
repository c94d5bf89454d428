"""Manager pages: dashboard, follow-up, one request's timeline, CSV exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    render_template,
    request,
    stream_with_context,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from advice_line.audit import record_view
from advice_line.auth.roles import roles_required
from advice_line.clock import LONDON, london, utcnow
from advice_line.extensions import db
from advice_line.lifecycle.detentions import deadline
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AuditEvent,
    CallLeg,
    Detention,
    Message,
    OfficerDecision,
    Role,
)
from advice_line.models.request import REFERENCE_PREFIX
from advice_line.reports.forms import FilterForm, default_period
from advice_line.reports.queries import (
    DAYS,
    TAKER,
    TARGETS,
    Dashboard,
    Filters,
    dashboard,
    follow_up,
    force_of_request,
    requests_query,
)
from advice_line.routing import views
from advice_line.transaction import Work, current_policy, run, signed_in_actor, viewed

R = TypeVar("R")
bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")
S136_RETURN_COLUMNS = (
    "force",
    "month",
    "age_band",
    "sex",
    "ethnicity",
    "place_of_safety_advised",
    "place_of_safety_used",
    "conveyance",
    "police_vehicle_reason",
    "detained_at_london",
    "arrived_at_london",
    "handed_over_at_london",
    "advice_line_reference",
)


def _form() -> FilterForm:
    """The filter form from the query string (the last 28 days when there is none)."""
    if request.args:
        return FilterForm(formdata=request.args)
    return FilterForm(formdata=MultiDict(default_period(utcnow().astimezone(LONDON).date())))


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


@bp.get("/")
@roles_required(Role.MANAGER)
def index() -> ResponseReturnValue:
    """The dashboard for a period and filters; the view is audited (rows: the requests)."""
    form = _form()
    if not form.validate():
        return render_template("reports/dashboard.html", form=form, board=None), 400

    def show(work: Work) -> tuple[Dashboard, int]:
        board = dashboard(work.session, form.filters(), now=work.now)
        return board, board.volume

    return render_template(
        "reports/dashboard.html",
        form=form,
        board=_audited("report.dashboard_viewed", show, form),
        targets=TARGETS,
        days=DAYS,
        query=request.query_string.decode(),
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
    """Everything that happened to one request, in order; the view itself is audited."""
    advice = db.session.get(AdviceRequest, request_id)
    if advice is None:
        abort(404)
    viewed("request.viewed", signed_in_actor(), request_id=advice.id)
    entries: list[tuple[datetime, str, str]] = []
    for event in db.session.scalars(select(AuditEvent).where(AuditEvent.request_id == advice.id)):
        who = f"{event.actor_kind} {event.actor_user_id or event.source or ''}".strip()
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(event.detail.items()))
        entries.append((event.occurred_at, event.action, f"{who}. {detail}".strip(". ")))
    for leg in db.session.scalars(select(CallLeg).where(CallLeg.request_id == advice.id)):
        entries.append(
            (leg.created_at, f"call leg ({leg.role.value})", f"{leg.number}, {leg.status.value}")
        )
        if leg.joined_at:
            entries.append((leg.joined_at, f"call leg joined ({leg.role.value})", leg.number))
        if leg.ended_at:
            entries.append((leg.ended_at, f"call leg ended ({leg.role.value})", leg.status.value))
    for message in db.session.scalars(select(Message).where(Message.request_id == advice.id)):
        entries.append((message.created_at, f"message {message.direction.value}", message.body))
    record = db.session.scalar(select(AdviceRecord).where(AdviceRecord.request_id == advice.id))
    detention = db.session.scalar(select(Detention).where(Detention.request_id == advice.id))
    return render_template(
        "reports/timeline.html",
        advice=advice,
        record=record,
        detention=detention,
        deadline=deadline(detention, current_policy()) if detention else None,
        entries=sorted(entries, key=lambda e: e[0]),
    )


def _csv_line(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


#: A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _value(value: object) -> object:
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # shown as text, never run
    return "" if value is None else value


def _export(rows: Iterator[str], name: str) -> Response:
    return Response(
        stream_with_context(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _export_columns() -> dict[str, Any]:
    """Each export column and the SQL it is read from (some are finished in Python)."""
    r, c = AdviceRequest, AdviceRecord
    return {
        "reference": r.id,
        "received_london": r.received_at,
        "channel": r.channel,
        "force": force_of_request,
        "area": r.area,
        "rcrp_phase": r.rcrp_phase,
        "age_band": r.subject_age_band,
        "sex": r.subject_sex,
        "ethnicity": r.subject_ethnicity,
        "officer_verified": r.officer_verified,
        "risk_to_life": r.risk_to_life,
        "under_18": r.subject_under_18,
        "in_dwelling": r.in_dwelling,
        "priority": r.priority,
        "status": r.status,
        "seconds_to_answer": r.accepted_at,
        "abandoned": r.abandoned_at,
        "outcome": c.outcome,
        "community_route": c.community_route,
        "place_of_safety": c.place_of_safety,
        "destination": c.destination,
        "officer_decision": Detention.decision,
        "place_of_safety_used": Detention.place_of_safety_used,
        "conveyance": Detention.conveyance,
        "arrived_at_london": Detention.arrived_at,
        "handed_over_at_london": Detention.handed_over_at,
        "clinician_id": TAKER.clinician_id,
        "given_by_profession": c.given_by_profession,
        "given_by_registration_body": c.given_by_registration_body,
        "given_by_registration_number": c.given_by_registration_number,
    }


#: The CSV export's columns, in order (documented in the README).
EXPORT_COLUMNS = tuple(_export_columns())


def stream_requests_csv(filters: Filters) -> Iterator[str]:
    """The export's lines: plain columns read from the database in batches of 1,000."""
    query = (
        requests_query(filters)
        .with_only_columns(
            *_export_columns().values(), AdviceRequest.waiting_since, maintain_column_froms=True
        )
        .execution_options(yield_per=1000)
    )
    yield _csv_line(EXPORT_COLUMNS)
    for *values, waiting in db.session.execute(query):
        row = dict(zip(EXPORT_COLUMNS, values, strict=True))
        accepted = row["seconds_to_answer"]
        row["reference"] = f"{REFERENCE_PREFIX}{row['reference']}"
        for name in ("received_london", "arrived_at_london", "handed_over_at_london"):
            row[name] = london(row[name])
        row["priority"] = int(row["priority"])
        row["seconds_to_answer"] = (
            (accepted - waiting).total_seconds() if accepted and waiting else ""
        )
        row["abandoned"] = row["abandoned"] is not None
        yield _csv_line(_value(v) for v in row.values())


def _count(session: Session, query: Select[*tuple[Any, ...]]) -> int:
    """How many rows ``query`` gives (its joins kept, its columns and order dropped)."""
    counting = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    return session.scalar(counting) or 0


def _audited_export(
    what: str, form: FilterForm, query: Select[*tuple[Any, ...]], lines: Iterator[str], name: str
) -> Response:
    """Record the export (manager, filters, rows), commit, then stream ``lines``.

    The rows are counted first with a COUNT over the same query and the event is written
    before the first line is sent, because an event written once a streamed response has
    begun would need a session and transaction of its own. So the count is of the rows as
    they stood a moment before the stream read them: a request received in between could
    make the two differ by that request.
    """
    return _audited(what, lambda work: (_export(lines, name), _count(work.session, query)), form)


@bp.get("/requests.csv")
@roles_required(Role.MANAGER)
def export_requests() -> ResponseReturnValue:
    """One row per request in the period, streamed in batches; the export is audited."""
    form = _form()
    if not form.validate():
        return {"errors": form.errors}, 400
    filters = form.filters()
    return _audited_export(
        "report.requests_exported",
        form,
        requests_query(filters),
        stream_requests_csv(filters),
        "advice-line-requests.csv",
    )


@bp.get("/s136-return.csv")
@roles_required(Role.MANAGER)
def export_s136_return() -> ResponseReturnValue:
    """Detentions the officers reported, shaped like the Home Office s136 return (times in
    London time); the export is audited."""
    form = _form()
    if not form.validate():
        return {"errors": form.errors}, 400
    query = (
        requests_query(form.filters())
        .add_columns(Detention)
        .where(Detention.decision == OfficerDecision.DETAINED)
    )

    def rows() -> Iterator[str]:
        yield _csv_line(S136_RETURN_COLUMNS)
        for advice, record, force, _clinician, detention in db.session.execute(
            query.execution_options(yield_per=1000)
        ):
            yield _csv_line(
                _value(v)
                for v in (
                    force or "not known",
                    advice.received_at.astimezone(LONDON).strftime("%Y-%m"),
                    advice.subject_age_band or "not recorded",
                    advice.subject_sex or "not recorded",
                    advice.subject_ethnicity or "not recorded",
                    record.place_of_safety if record and record.place_of_safety else "none advised",
                    detention.place_of_safety_used or "not recorded",
                    detention.conveyance or "not recorded",
                    detention.police_vehicle_reason or "",
                    london(detention.detained_at),
                    london(detention.arrived_at),
                    london(detention.handed_over_at),
                    advice.reference,
                )
            )

    return _audited_export("report.s136_return_exported", form, query, rows(), "s136-return.csv")


@bp.get("/live")
@roles_required(Role.MANAGER)
def live_board() -> str:
    """Queue length, longest wait, clinicians available and breaches, pushed live."""
    return render_template(
        "reports/live.html",
        board=views.board(db.session(), utcnow(), current_policy()),
    )
