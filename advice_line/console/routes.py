"""The clinician console pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.auth.roles import roles_required
from advice_line.clock import LONDON, utcnow
from advice_line.console.forms import (
    ActionForm,
    DetentionForm,
    MessageForm,
    RecordForm,
)
from advice_line.extensions import db
from advice_line.lifecycle import law
from advice_line.lifecycle.detentions import DetentionReport, deadline
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.lifecycle.law import POLICE_STATION_CONDITIONS
from advice_line.lifecycle.registrations import lapse_warning
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AuditEvent,
    Clinician,
    Detention,
    Message,
    OfficerDecision,
    ReportedVia,
    Role,
    Standing,
)
from advice_line.routing import views
from advice_line.search.forms import LinkForm
from advice_line.search.queries import Earlier, earlier_requests
from advice_line.search.routes import current_viewer
from advice_line.telephony.call_back import call_officer_back
from advice_line.telephony.replies import reply_to_officer
from advice_line.transaction import Work, current_policy, run, signed_in_actor, viewed

bp = Blueprint("console", __name__, template_folder="templates")
ANSWER_NAMES: dict[bool | None, str] = {True: "yes", False: "no", None: "not_known"}
#: Where on the form each domain error is shown, when the names differ.
ERROR_FIELDS = {
    "safeguarding": "under_18_in_crisis",
    "police_station_conditions": "police_station_imminent_risk",
    "follow_up_due_at": "follow_up_due",
}


# --- the clinician console ------------------------------------------------------------


def _actor() -> Actor:
    return signed_in_actor()


def _flash_refusal(endpoint: str, **values: Any) -> Callable[[DomainError], ResponseReturnValue]:
    """Answer a refused step with the reason as an error message, back on ``endpoint``."""

    def refused(error: DomainError) -> ResponseReturnValue:
        said = " ".join(error.errors.values()) if isinstance(error, InvalidInput) else str(error)
        flash(said, "error")
        return redirect(url_for(endpoint, **values))

    return refused


def _me() -> int:
    if current_user.clinician_id is None:
        abort(403, "Only a clinician with a clinician's profile can do this.")
    return int(current_user.clinician_id)


#: What each refusal means to the person refused (the page says why, and where to go).
REFUSALS = {
    400: (
        "That could not be done",
        "The form was incomplete or out of date: go back and try again.",
    ),
    403: ("You cannot open this page", "Your role does not give you access to it."),
    404: ("Not found", "There is no such page or request."),
}


@bp.errorhandler(400)
@bp.errorhandler(403)
@bp.errorhandler(404)
def refused_page(error: HTTPException) -> tuple[str, int]:
    """A refusal as a page that says why, not a bare "Forbidden"."""
    code = error.code or 400
    title, reason = REFUSALS[code]
    default = error.description == type(error).description
    return render_template(
        "console/refused.html", title=title, reason=reason if default else error.description
    ), code


@bp.get("/console")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def console() -> str:
    """The live console: status, offers, the queue; a warning if the registration lapses soon."""
    me = db.session().get(Clinician, _me())
    lapses_on = lapse_warning(me, now=utcnow(), policy=current_policy()) if me else None
    return render_template(
        "console/console.html",
        senior=current_user.role == Role.SENIOR_CLINICIAN,
        lapses_on=lapses_on,
        lapsed=lapses_on is not None and lapses_on <= utcnow().astimezone(LONDON).date(),
    )


@bp.get("/console/api/state")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def api_state() -> Response:
    """The console's whole state as JSON (what the socket pushes, on demand)."""
    body: dict[str, Any] = {
        "queue": views.queue(db.session()),
        "mine": views.mine(db.session(), _me(), utcnow()),
    }
    if current_user.role == Role.SENIOR_CLINICIAN:
        body["floor"] = views.floor(db.session())
    return jsonify(body)


def _own_request(request_id: int) -> AdviceRequest:
    """The request, if the signed-in clinician may open it (403 otherwise).

    The rule is ``views.may_open`` (docs/DOMAIN.md#tasks), which the live thread's socket
    uses too. Opening is not writing: the domain still lets only the clinician who took
    the request write its record or reply to the officer.
    """
    advice = db.session.get(AdviceRequest, request_id)
    if advice is None:
        abort(404, f"There is no request AL-{request_id}.")
    if not views.may_open(
        db.session(),
        request_id,
        user_id=current_user.id,
        role=current_user.role,
        clinician_id=current_user.clinician_id,
    ):
        abort(
            403,
            f"{advice.reference} is not yours to open: a clinician may open a request they "
            "took, one with an open task, or one they took or finished a task on. "
            "A senior clinician can open any request.",
        )
    return advice


def _record_form(advice: AdviceRequest) -> RecordForm:
    record = db.session.scalar(select(AdviceRecord).where(AdviceRecord.request_id == advice.id))
    form = RecordForm(obj=record) if request.method == "GET" and record else RecordForm()
    if request.method == "GET" and record:
        for question, answer in (record.safeguarding or {}).items():
            if hasattr(form, question):
                getattr(form, question).data = ANSWER_NAMES[answer]
        for name in (*POLICE_STATION_CONDITIONS, "risk_to_life", "subject_under_18", "in_dwelling"):
            value = getattr(record, name)
            getattr(form, name).data = "" if value is None else ANSWER_NAMES[value]
        if record.follow_up_due_at is not None:
            form.follow_up_due.data = record.follow_up_due_at.astimezone(LONDON).strftime(
                "%d/%m/%Y %H:%M"
            )
        form.subject_age.data = advice.subject_age
        form.place_of_safety.data = record.place_of_safety.value if record.place_of_safety else ""
        form.community_route.data = record.community_route.value if record.community_route else ""
        form.outcome.data = record.outcome.value if record.outcome else None
        for name in ("subject_age_band", "subject_sex", "subject_ethnicity", "rcrp_phase"):
            value = getattr(advice, name)
            getattr(form, name).data = value.value if value else ""
        form.area.data = advice.area
    return form


def _render_request(
    advice: AdviceRequest, form: RecordForm, code: int = 200, earlier: Earlier | None = None
) -> tuple[str, int]:
    messages = db.session.scalars(
        select(Message).where(Message.request_id == advice.id).order_by(Message.id)
    ).all()
    record = db.session.scalar(select(AdviceRecord).where(AdviceRecord.request_id == advice.id))
    detention = db.session.scalar(select(Detention).where(Detention.request_id == advice.id))
    nuisance = db.session.scalar(
        select(AuditEvent)
        .where(AuditEvent.request_id == advice.id, AuditEvent.action == "request.nuisance")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return (
        render_template(
            "console/request.html",
            advice=advice,
            form=form,
            messages=messages,
            record=record,
            facts=law.key_facts(advice, record),
            detention=detention,
            deadline=deadline(detention, current_policy()) if detention else None,
            detention_form=_detention_form(detention),
            child=law.under_18_by_any_indicator(advice, record),
            message_form=MessageForm(),
            action_form=ActionForm(),
            nuisance=nuisance,
            standing=views.STANDING_LABELS[Standing(advice.standing)],
            senior=current_user.role == Role.SENIOR_CLINICIAN,
            earlier=earlier or earlier_requests(db.session(), advice, current_viewer()),
            link_form=LinkForm(),
            holder=views.holder(db.session(), advice.id) in {current_user.clinician_id} - {None},
            recordings=recordings.playable(db.session(), advice.id),
            **conference.panel(advice),
        ),
        code,
    )


@bp.get("/console/requests/<int:request_id>")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def request_page(request_id: int) -> tuple[str, int]:
    """One request: details, message thread, record form. The view is audited."""
    advice = _own_request(request_id)
    earlier = earlier_requests(db.session(), advice, current_viewer())
    viewed("request.viewed", _actor(), request_id=advice.id, detail=earlier.audited())
    return _render_request(advice, _record_form(advice), earlier=earlier)


def _first_error(form: RecordForm) -> str:
    """The form's first error in words, under its field's label (never the field's name)."""
    for field in form:
        if field.errors:
            return f"{field.label.text}: {field.errors[0]}"
    return "Check the form."


@bp.post("/console/requests/<int:request_id>/record")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def save_record(request_id: int) -> ResponseReturnValue:
    """Save a draft, or complete the record and close the request; errors beside fields."""
    advice = _own_request(request_id)
    form = _record_form(advice)
    # The page's script saves a draft as the clinician types: it is answered in JSON.
    autosave = request.form.get("intent") == "autosave"
    if not form.validate_on_submit():
        if autosave:
            return jsonify(error=f"Draft not saved: {_first_error(form)}"), 400
        return _render_request(advice, form, 400)
    completing = request.form.get("intent") == "complete"
    me = _me()

    def save(work: Work) -> ResponseReturnValue:
        record = form.to_input(work.now)
        if completing:
            lifecycle.complete_record(
                work.session,
                advice.id,
                me,
                record,
                now=work.now,
                actor=work.actor,
                policy=work.policy,
            )
        else:
            lifecycle.save_draft(
                work.session, advice.id, me, record, now=work.now, actor=work.actor
            )
        if autosave:
            return jsonify(saved_at=work.now.astimezone(LONDON).strftime("%H:%M"))
        work.tell("Record completed; the request is closed." if completing else "Draft saved.")
        return redirect(
            url_for(
                "console.console" if completing else "console.request_page", request_id=request_id
            )
        )

    def refused(error: DomainError) -> ResponseReturnValue:
        if isinstance(error, InvalidInput):
            for field, message in error.errors.items():
                name = ERROR_FIELDS.get(field, field)
                getattr(form, name if hasattr(form, name) else "outcome").errors.append(message)
        else:
            form.outcome.errors.append(str(error))
        if autosave:
            return jsonify(error=f"Draft not saved: {_first_error(form)}"), 400
        return _render_request(db.session.get_one(AdviceRequest, request_id), form, 400)

    return run(save, _actor(), refused)


@bp.post("/console/requests/<int:request_id>/message")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def send_message(request_id: int) -> ResponseReturnValue:
    """Reply to the officer by SMS or WhatsApp."""
    advice = _own_request(request_id)
    form = MessageForm()
    me = _me()
    page = redirect(url_for("console.request_page", request_id=request_id))

    def reply(work: Work) -> ResponseReturnValue:
        if not form.validate_on_submit():
            raise InvalidInput({"body": "Write 1 to 1600 characters."})
        reply_to_officer(
            work.session, advice.id, me, form.body.data or "", now=work.now, actor=work.actor
        )
        return page

    def refused(error: DomainError) -> ResponseReturnValue:
        flash(f"Not sent: {error}", "error")
        return page

    return run(reply, _actor(), refused)


@bp.post("/console/requests/<int:request_id>/<any(end, call_back):step>")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def request_step(request_id: int, step: str) -> ResponseReturnValue:
    """End a message conversation (to wrap-up), or call the officer back."""
    advice = _own_request(request_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    me = _me()

    def act(work: Work) -> ResponseReturnValue:
        shown = advice
        if step == "end":
            lifecycle.end_call(work.session, advice.id, now=work.now, actor=work.actor)
        else:
            shown = call_officer_back(
                work.session, advice.id, me, now=work.now, actor=work.actor, policy=work.policy
            )
        return redirect(url_for("console.request_page", request_id=shown.id))

    return run(act, _actor(), _flash_refusal("console.request_page", request_id=advice.id))


def _detention_form(detention: Detention | None) -> DetentionForm:
    form = DetentionForm()
    if detention is not None and request.method == "GET":
        form.decision.data = detention.decision.value if detention.decision else ""
        for name in ("detained_at", "arrived_at", "handed_over_at", "ended_at"):
            moment = getattr(detention, name)
            if moment is not None:
                getattr(form, name).data = moment.astimezone(LONDON).strftime("%d/%m/%Y %H:%M")
        for name in ("place_of_safety_used", "conveyance", "police_vehicle_reason"):
            value = getattr(detention, name)
            getattr(form, name).data = value.value if value else ""
    return form


def _reported_via() -> ReportedVia:
    senior = current_user.role == Role.SENIOR_CLINICIAN
    return ReportedVia.SENIOR if senior else ReportedVia.CLINICIAN


@bp.post("/console/requests/<int:request_id>/detention")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def record_detention(request_id: int) -> ResponseReturnValue:
    """The officer's decision and the detention's times, entered on the officer's word."""
    advice = _own_request(request_id)
    form = DetentionForm()
    if not form.validate_on_submit():
        abort(400)
    via = _reported_via()

    def save(work: Work) -> ResponseReturnValue:
        if form.decision.data:
            lifecycle.report_decision(
                work.session,
                advice.id,
                OfficerDecision(form.decision.data),
                via=via,
                now=work.now,
                actor=work.actor,
            )
        report = form.report(work.now)
        if report != DetentionReport():
            lifecycle.record_detention(
                work.session,
                advice.id,
                report,
                via=via,
                now=work.now,
                actor=work.actor,
                policy=work.policy,
            )
        work.tell("The officer's decision and the detention are recorded.")
        return redirect(url_for("console.request_page", request_id=advice.id))

    return run(save, _actor(), _flash_refusal("console.request_page", request_id=advice.id))


@bp.post("/console/requests/<int:request_id>/detention/extend")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def extend_detention(request_id: int) -> ResponseReturnValue:
    """Record a doctor's 12-hour extension of the detention."""
    advice = _own_request(request_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    via = _reported_via()

    def extend(work: Work) -> ResponseReturnValue:
        lifecycle.extend_detention(
            work.session, advice.id, via=via, now=work.now, actor=work.actor, policy=work.policy
        )
        work.tell("The 12-hour extension is recorded.")
        return redirect(url_for("console.request_page", request_id=advice.id))

    return run(extend, _actor(), _flash_refusal("console.request_page", request_id=advice.id))


# The team's pages, the same-person links, the recordings' audio, the browser phone's
# token and the call's others (third party, supervision) register themselves on ``bp`` too.
from advice_line.console import conference, persons, phone, recordings, team  # noqa: E402

__all__ = ["bp", "conference", "persons", "phone", "recordings", "team"]
