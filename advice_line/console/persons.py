"""Linking a request to an earlier one as the same person, and removing such a link."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from advice_line import lifecycle
from advice_line.auth.roles import roles_required
from advice_line.console.forms import ActionForm
from advice_line.console.routes import _actor, _flash_refusal, _me, _own_request, bp
from advice_line.models import Role
from advice_line.search.forms import LinkForm
from advice_line.transaction import Work, run


@bp.post("/console/requests/<int:request_id>/same-person")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def link_person(request_id: int) -> ResponseReturnValue:
    """Say this request concerns the same person as an earlier one; the link is audited."""
    advice = _own_request(request_id)
    form = LinkForm()
    page = url_for("console.request_page", request_id=advice.id, _anchor="same-person")
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash(" ".join(e for field in form for e in field.errors), "error")
        return redirect(page)
    me = _me()

    def link(work: Work) -> ResponseReturnValue:
        linked = lifecycle.link_same_person(
            work.session,
            advice.id,
            form.earlier_id(),
            clinician_id=me,
            user_id=current_user.id,
            role=current_user.role,
            now=work.now,
            actor=work.actor,
        )
        work.tell(f"Linked to AL-{linked.earlier_request_id} as the same person.")
        return redirect(page)

    return run(link, _actor(), _flash_refusal("console.request_page", request_id=advice.id))


@bp.post("/console/requests/<int:request_id>/same-person/<int:other_id>/remove")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def unlink_person(request_id: int, other_id: int) -> ResponseReturnValue:
    """Remove a same-person link made in error; the removal is audited."""
    advice = _own_request(request_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    me = _me()

    def unlink(work: Work) -> ResponseReturnValue:
        lifecycle.unlink_same_person(
            work.session, advice.id, other_id, clinician_id=me, now=work.now, actor=work.actor
        )
        work.tell(f"The link to AL-{other_id} is removed.")
        return redirect(url_for("console.request_page", request_id=advice.id))

    return run(unlink, _actor(), _flash_refusal("console.request_page", request_id=advice.id))
