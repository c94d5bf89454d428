"""The clinician console pages."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import or_, select

from advice_line import lifecycle
from advice_line.audit import Actor, record_event
from advice_line.auth.roles import roles_required
from advice_line.clock import utcnow
from advice_line.console import state
from advice_line.console.forms import (
    ActionForm,
    MessageForm,
    ReassignForm,
    RecordForm,
    choices,
)
from advice_line.extensions import db
from advice_line.inputs import parse_id
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Clinician,
    ClinicianStatus,
    Message,
    Offer,
    OfferOutcome,
    Role,
    Task,
    User,
)
from advice_line.telephony import dialer

bp = Blueprint("console", __name__, template_folder="templates")


# --- the clinician console ------------------------------------------------------------


def _actor() -> Actor:
    return Actor("user", current_user.id, request.remote_addr)


def _policy() -> RoutingPolicy:
    return RoutingPolicy.from_config(current_app.config)


def _me() -> int:
    if current_user.clinician_id is None:
        abort(403)
    return int(current_user.clinician_id)


@bp.get("/console")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def console() -> str:
    """The live console: status, offers, the queue."""
    return render_template(
        "console/console.html",
        heartbeat_seconds=current_app.config["HEARTBEAT_SECONDS"],
        senior=current_user.role == Role.SENIOR_CLINICIAN,
    )


@bp.get("/console/api/state")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def api_state() -> Response:
    """The console's whole state as JSON (what the socket pushes, on demand)."""
    body: dict[str, Any] = {
        "queue": state.queue(db.session()),
        "mine": state.mine(db.session(), _me(), utcnow()),
    }
    if current_user.role == Role.SENIOR_CLINICIAN:
        body["floor"] = state.floor(db.session())
    return jsonify(body)


def _own_request(request_id: int) -> AdviceRequest:
    """The request, if the signed-in clinician took it (seniors may look at any)."""
    advice = db.session.get(AdviceRequest, request_id)
    if advice is None:
        abort(404)
    taker = db.session.scalar(
        select(Offer.clinician_id).where(
            Offer.request_id == request_id, Offer.outcome == OfferOutcome.ACCEPTED
        )
    )
    if taker != current_user.clinician_id and current_user.role != Role.SENIOR_CLINICIAN:
        abort(403)
    return advice


def _record_form(advice: AdviceRequest) -> RecordForm:
    record = db.session.scalar(select(AdviceRecord).where(AdviceRecord.request_id == advice.id))
    form = RecordForm(obj=record) if request.method == "GET" and record else RecordForm()
    if request.method == "GET" and record:
        for question, answer in (record.safeguarding or {}).items():
            getattr(form, question).data = "yes" if answer else "no"
        form.place_of_safety.data = record.place_of_safety.value if record.place_of_safety else ""
        form.community_route.data = record.community_route.value if record.community_route else ""
        form.outcome.data = record.outcome.value if record.outcome else None
        for name in ("subject_age_band", "subject_sex", "subject_ethnicity", "rcrp_phase"):
            value = getattr(advice, name)
            getattr(form, name).data = value.value if value else ""
        form.area.data = advice.area
    return form


def _render_request(advice: AdviceRequest, form: RecordForm, code: int = 200) -> tuple[str, int]:
    messages = db.session.scalars(
        select(Message).where(Message.request_id == advice.id).order_by(Message.id)
    ).all()
    record = db.session.scalar(select(AdviceRecord).where(AdviceRecord.request_id == advice.id))
    return (
        render_template(
            "console/request.html",
            advice=advice,
            form=form,
            messages=messages,
            record=record,
            message_form=MessageForm(),
            action_form=ActionForm(),
        ),
        code,
    )


@bp.get("/console/requests/<int:request_id>")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def request_page(request_id: int) -> tuple[str, int]:
    """One request: details, message thread, record form. The view is audited."""
    advice = _own_request(request_id)
    record_event(
        db.session(),
        _actor(),
        "request.viewed",
        now=utcnow(),
        request_id=advice.id,
        subject=("advice_request", advice.id),
    )
    db.session.commit()
    return _render_request(advice, _record_form(advice))


@bp.post("/console/requests/<int:request_id>/record")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def save_record(request_id: int) -> ResponseReturnValue:
    """Save a draft, or complete the record and close the request; errors beside fields."""
    advice = _own_request(request_id)
    form = _record_form(advice)
    if not form.validate_on_submit():
        return _render_request(advice, form, 400)
    completing = request.form.get("intent") == "complete"
    try:
        if completing:
            lifecycle.complete_record(
                db.session(),
                advice.id,
                _me(),
                form.to_input(),
                now=utcnow(),
                actor=_actor(),
                policy=_policy(),
            )
        else:
            lifecycle.save_draft(
                db.session(), advice.id, _me(), form.to_input(), now=utcnow(), actor=_actor()
            )
        db.session.commit()
    except InvalidInput as refused:
        db.session.rollback()
        for field, message in refused.errors.items():
            target = form.under_18_in_crisis if field == "safeguarding" else getattr(form, field)
            target.errors.append(message)
        return _render_request(db.session.get_one(AdviceRequest, request_id), form, 400)
    except DomainError as refused:
        db.session.rollback()
        form.outcome.errors.append(str(refused))
        return _render_request(db.session.get_one(AdviceRequest, request_id), form, 400)
    flash("Record completed; the request is closed." if completing else "Draft saved.")
    return redirect(
        url_for("console.console" if completing else "console.request_page", request_id=request_id)
    )


@bp.post("/console/requests/<int:request_id>/message")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def send_message(request_id: int) -> ResponseReturnValue:
    """Reply to the officer by SMS or WhatsApp."""
    advice = _own_request(request_id)
    form = MessageForm()
    try:
        if not form.validate_on_submit():
            raise InvalidInput({"body": "Write 1 to 1600 characters."})
        dialer.reply_by_message(
            db.session(), advice.id, _me(), form.body.data or "", now=utcnow(), actor=_actor()
        )
        db.session.commit()
    except DomainError as refused:
        db.session.rollback()
        flash(f"Not sent: {refused}", "error")
    return redirect(url_for("console.request_page", request_id=request_id))


@bp.post("/console/requests/<int:request_id>/<any(end, call_back):step>")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def request_step(request_id: int, step: str) -> ResponseReturnValue:
    """End a message conversation (to wrap-up), or call the officer back."""
    advice = _own_request(request_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if step == "end":
            lifecycle.end_call(db.session(), advice.id, now=utcnow(), actor=_actor())
        else:
            advice = dialer.call_back(
                db.session(), advice.id, _me(), now=utcnow(), actor=_actor(), policy=_policy()
            )
        db.session.commit()
    except DomainError as refused:
        db.session.rollback()
        flash(str(refused), "error")
    return redirect(url_for("console.request_page", request_id=advice.id))


@bp.route("/console/tasks", methods=["GET", "POST"])
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def tasks() -> ResponseReturnValue:
    """My follow-ups, safeguarding tasks and call-backs, and unowned call-backs."""
    form = ActionForm()
    if request.method == "POST":
        task_id = parse_id(request.form.get("task_id", ""))
        if not form.validate_on_submit() or task_id is None:
            abort(400)
        try:
            lifecycle.complete_task(
                db.session(), task_id, current_user.id, now=utcnow(), actor=_actor()
            )
            db.session.commit()
            flash("Task marked done.")
        except DomainError as refused:
            db.session.rollback()
            flash(str(refused), "error")
        return redirect(url_for("console.tasks"))
    open_tasks = db.session.scalars(
        select(Task)
        .where(
            Task.done_at.is_(None),
            or_(Task.owner_user_id == current_user.id, Task.owner_user_id.is_(None)),
        )
        .order_by(Task.due_at)
    ).all()
    return render_template("console/tasks.html", tasks=open_tasks, form=form, now=utcnow())


@bp.route("/console/floor", methods=["GET", "POST"])
@roles_required(Role.SENIOR_CLINICIAN)
def floor() -> ResponseReturnValue:
    """The whole floor for a senior clinician: who is doing what, the queue, escalations."""
    form = ReassignForm()
    available = db.session.execute(
        select(Clinician.id, User.display_name)
        .join(User, User.id == Clinician.user_id)
        .where(Clinician.status == ClinicianStatus.AVAILABLE)
        .order_by(User.display_name)
    ).all()
    form.clinician_id.choices = choices([(str(cid), name) for cid, name in available])
    if request.method == "POST":
        request_id = parse_id(request.form.get("request_id", ""))
        taking = request.form.get("intent") == "take"
        checked = ActionForm() if taking else form  # taking needs no clinician choice
        if request_id is None or not checked.validate_on_submit():
            abort(400)
        try:
            if taking:
                lifecycle.accept(
                    db.session(),
                    request_id,
                    _me(),
                    now=utcnow(),
                    actor=_actor(),
                    policy=_policy(),
                )
            else:
                lifecycle.reassign(
                    db.session(),
                    request_id,
                    form.clinician_id.data,
                    now=utcnow(),
                    actor=_actor(),
                    policy=_policy(),
                )
            db.session.commit()
            flash("Done.")
        except DomainError as refused:
            db.session.rollback()
            flash(str(refused), "error")
        return redirect(url_for("console.floor"))
    return render_template(
        "console/floor.html",
        people=state.floor(db.session()),
        queue=state.queue(db.session()),
        form=form,
        action_form=ActionForm(),
    )
