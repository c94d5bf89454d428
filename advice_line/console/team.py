"""The team's pages: everyone's open tasks, the senior's floor, nuisance calls closed."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import (
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from advice_line import lifecycle
from advice_line.auth.roles import roles_required
from advice_line.clock import utcnow
from advice_line.console.forms import (
    ActionForm,
    ReassignForm,
    ReferralForm,
    choices,
)
from advice_line.console.routes import (
    _actor,
    _flash_refusal,
    _me,
    bp,
)
from advice_line.extensions import db
from advice_line.inputs import parse_id
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.lifecycle.registrations import lapse_warnings
from advice_line.models import (
    Role,
    TaskKind,
)
from advice_line.routing import calls, views
from advice_line.telephony.call_back import call_officer_back
from advice_line.transaction import Work, current_policy, run


def _render_tasks(
    refused_task_id: int | None = None, refused: ReferralForm | None = None, code: int = 200
) -> tuple[str, int]:
    """The team's open tasks; a refused "Done" keeps its form, errors beside the fields."""
    items = views.team_tasks(db.session())
    forms = {
        item.task.id: refused
        if refused is not None and item.task.id == refused_task_id
        else ReferralForm(formdata=None)
        for item in items
        if item.task.kind == TaskKind.SAFEGUARDING or item.task.id == refused_task_id
    }
    return (
        render_template(
            "console/tasks.html",
            tasks=items,
            referral_forms=forms,
            action_form=ActionForm(formdata=None),
            me=current_user.id,
            now=utcnow(),
            kinds=views.TASK_KIND_LABELS,
        ),
        code,
    )


@bp.route("/console/tasks", methods=["GET", "POST"])
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def tasks() -> ResponseReturnValue:
    """The team's open tasks: anyone takes one (``intent=take``) or marks it done
    (``intent=done``; a safeguarding task with the referral: agency, reference, outcome)."""
    if request.method == "GET":
        return _render_tasks()
    task_id = parse_id(request.form.get("task_id", ""))
    intent = request.form.get("intent")
    if task_id is None or intent not in {"take", "done", "call_back"}:
        abort(400, "Choose a task and what to do with it.")
    form = ReferralForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _render_tasks(task_id, form, 400)
    user_id = current_user.id
    me = _me() if intent == "call_back" else None

    def act(work: Work) -> ResponseReturnValue:
        if intent == "call_back":
            task = lifecycle.take_call_back_task(
                work.session, task_id, user_id, now=work.now, actor=work.actor
            )
            assert task.request_id is not None
            assert me is not None
            advice = call_officer_back(
                work.session,
                task.request_id,
                me,
                now=work.now,
                actor=work.actor,
                policy=work.policy,
            )
            work.tell(
                f"Calling the officer back on {advice.reference}: your phone and theirs ring."
            )
            return redirect(url_for("console.request_page", request_id=task.request_id))
        if intent == "take":
            lifecycle.take_task(work.session, task_id, user_id, now=work.now, actor=work.actor)
            work.tell("The task is yours now.")
        else:
            referral = lifecycle.Referral(form.agency.data, form.reference.data, form.outcome.data)
            lifecycle.complete_task(
                work.session, task_id, user_id, now=work.now, actor=work.actor, referral=referral
            )
            work.tell("Task marked done.")
        return redirect(url_for("console.tasks"))

    def refused(error: DomainError) -> ResponseReturnValue:
        if intent == "call_back" or not isinstance(error, InvalidInput):
            return _flash_refusal("console.tasks")(error)
        for field, message in error.errors.items():
            getattr(form, field.removeprefix("referral_"), form.outcome).errors.append(message)
        return _render_tasks(task_id, form, 400)

    return run(act, _actor(), refused)


@bp.route("/console/floor", methods=["GET", "POST"])
@roles_required(Role.SENIOR_CLINICIAN)
def floor() -> ResponseReturnValue:
    """The whole floor for a senior clinician: who is doing what, the queue, escalations."""
    form = ReassignForm()
    available = views.marked_available(db.session())
    form.clinician_id.choices = choices([(str(cid), name) for cid, name in available])
    if request.method == "POST":
        request_id = parse_id(request.form.get("request_id", ""))
        taking = request.form.get("intent") == "take"
        checked = ActionForm() if taking else form  # taking needs no clinician choice
        if request_id is None or not checked.validate_on_submit():
            abort(400)
        clinician_id = _me() if taking else form.clinician_id.data
        # Taking without the skills the request needs is the senior's explicit choice.
        override = taking and request.form.get("override_skills") == "yes"

        step: Callable[..., object] = (
            functools.partial(lifecycle.take, override_skills=override)
            if taking
            else lifecycle.reassign
        )

        def move(work: Work) -> ResponseReturnValue:
            step(
                work.session,
                request_id,
                clinician_id,
                now=work.now,
                actor=work.actor,
                policy=work.policy,
            )
            work.tell("Done.")
            return redirect(url_for("console.floor"))

        return run(move, _actor(), _flash_refusal("console.floor"))
    return render_template(
        "console/floor.html",
        people=views.floor(db.session()),
        lapsing=lapse_warnings(db.session(), now=utcnow(), policy=current_policy()),
        queue=views.queue(db.session()),
        calls=calls.live_calls(db.session()),
        me=_me(),
        form=form,
        action_form=ActionForm(),
    )


@bp.post("/console/requests/<int:request_id>/nuisance")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def nuisance(request_id: int) -> ResponseReturnValue:
    """A senior closes a request as a nuisance call, with a reason; the domain refuses
    anyone else with the reason why (docs/DOMAIN.md#nuisance-calls)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    reason = request.form.get("reason", "")
    user_id = current_user.id
    back = "console.floor" if current_user.role == Role.SENIOR_CLINICIAN else "console.console"

    def close(work: Work) -> ResponseReturnValue:
        advice = lifecycle.mark_nuisance(
            work.session, request_id, user_id, now=work.now, actor=work.actor, reason=reason
        )
        work.tell(f"{advice.reference} closed as a nuisance call.")
        return redirect(url_for(back))

    return run(close, _actor(), _flash_refusal(back))
