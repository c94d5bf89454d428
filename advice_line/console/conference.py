"""Others on a call: the holder's panel (bring in, together, drop, hand over) and the
floor's supervision (a senior listens, coaches, joins, stops)."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from advice_line import lifecycle
from advice_line.auth.roles import roles_required
from advice_line.console.forms import ActionForm, ThirdPartyForm, choices
from advice_line.console.routes import _actor, _flash_refusal, _me, _own_request, bp
from advice_line.extensions import db
from advice_line.lifecycle.errors import InvalidInput
from advice_line.lifecycle.supervision import told
from advice_line.models import (
    AdviceRequest,
    Channel,
    Clinician,
    ClinicianStatus,
    Offer,
    OfferOutcome,
    RequestStatus,
    Role,
    Supervision,
    User,
)
from advice_line.transaction import Work, run


def _colleagues(me: int) -> list[tuple[str, str]]:
    """Clinicians of the line who could be rung in now: available, with a phone."""
    rows = db.session.execute(
        select(Clinician.id, User.display_name)
        .join(User, User.id == Clinician.user_id)
        .where(
            Clinician.id != me,
            Clinician.status == ClinicianStatus.AVAILABLE,
            Clinician.phone.is_not(None),
            User.active.is_(True),
        )
        .order_by(User.display_name)
    )
    return [(f"clinician:{cid}", f"{name} (clinician)") for cid, name in rows]


def _directory() -> list[tuple[str, str]]:
    return [
        (f"directory:{n}", label)
        for n, (label, _) in enumerate(current_app.config["CONSULT_DIRECTORY"])
    ]


def _form(me: int) -> ThirdPartyForm:
    form = ThirdPartyForm()
    form.who.choices = choices([*_colleagues(me), *_directory()])
    return form


def _holds(advice: AdviceRequest) -> bool:
    taker = db.session.scalar(
        select(Offer.clinician_id).where(
            Offer.request_id == advice.id, Offer.outcome == OfferOutcome.ACCEPTED
        )
    )
    return taker is not None and taker == current_user.clinician_id


def panel(advice: AdviceRequest) -> dict[str, Any]:
    """What the request page shows of its call: a senior on it; the holder's third party."""
    on_call = (
        advice.status == RequestStatus.CONNECTED
        and advice.channel == Channel.VOICE
        and _holds(advice)
    )
    said = told(db.session(), advice.id)
    if not on_call:
        return {"call_panel": False, "supervision": said}
    return {
        "supervision": said,
        "call_panel": True,
        "third_party": lifecycle.live_leg(db.session(), advice.id),
        "third_party_form": _form(_me()),
    }


def _chosen(form: ThirdPartyForm) -> lifecycle.ThirdParty:
    """The form's choice as a third party; an unknown entry is refused in words."""
    kind, _, key = (form.who.data or "").partition(":")
    if not key.isdigit():
        raise InvalidInput({"third_party": "Choose a clinician or a directory entry."})
    if kind == "clinician":
        return lifecycle.ThirdParty(clinician_id=int(key))
    directory = current_app.config["CONSULT_DIRECTORY"]
    if kind != "directory" or int(key) >= len(directory):
        raise InvalidInput({"third_party": "That number is not in the line's directory."})
    label, number = directory[int(key)]
    return lifecycle.ThirdParty(label=label, number=number)


@bp.post("/console/requests/<int:request_id>/third-party")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def bring_in(request_id: int) -> ResponseReturnValue:
    """Ring a clinician or a directory entry into the officer's call."""
    advice = _own_request(request_id)
    if not ActionForm().validate_on_submit():  # the CSRF token; the choice is checked below
        abort(400)
    me = _me()
    form = ThirdPartyForm()

    def ring(work: Work) -> ResponseReturnValue:
        if form.mode.data not in {"private", "together"}:
            raise InvalidInput({"mode": "Choose privately first or together."})
        lifecycle.bring_in(
            work.session,
            advice.id,
            me,
            _chosen(form),
            private=form.mode.data == "private",
            now=work.now,
            actor=work.actor,
        )
        work.tell("Calling them now.")
        return redirect(url_for("console.request_page", request_id=advice.id))

    return run(ring, _actor(), _flash_refusal("console.request_page", request_id=advice.id))


@bp.post("/console/requests/<int:request_id>/third-party/<any(together, drop, hand_over):step>")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def third_party_step(request_id: int, step: str) -> ResponseReturnValue:
    """Speak together with the third party, drop them, or hand the call over to them."""
    advice = _own_request(request_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    me = _me()

    def act(work: Work) -> ResponseReturnValue:
        if step == "together":
            lifecycle.speak_together(work.session, advice.id, me, now=work.now, actor=work.actor)
            work.tell("The officer is back on the call with you both.")
        elif step == "drop":
            leg = lifecycle.drop_third_party(
                work.session, advice.id, me, now=work.now, actor=work.actor
            )
            work.tell(f"{leg.label} is off the call.")
        else:
            lifecycle.hand_over(
                work.session, advice.id, me, now=work.now, actor=work.actor, policy=work.policy
            )
            work.tell(f"{advice.reference} is handed over.")
            return redirect(url_for("console.console"))
        return redirect(url_for("console.request_page", request_id=advice.id))

    return run(act, _actor(), _flash_refusal("console.request_page", request_id=advice.id))


@bp.post("/console/floor/calls/<int:request_id>/<any(listen, coach, join, stop):step>")
@roles_required(Role.SENIOR_CLINICIAN)
def supervise(request_id: int, step: str) -> ResponseReturnValue:
    """A senior listens to a live call unheard, coaches its clinician, joins it, or stops."""
    if not ActionForm().validate_on_submit():
        abort(400)
    me = _me()

    def act(work: Work) -> ResponseReturnValue:
        if step == "listen":
            lifecycle.listen(work.session, request_id, me, now=work.now, actor=work.actor)
            work.tell("Your phone will ring: answer it to listen, muted.")
        elif step == "stop":
            lifecycle.stop_supervising(work.session, request_id, me, now=work.now, actor=work.actor)
            work.tell("You have left the call.")
        else:
            mode = Supervision(step)
            lifecycle.supervise(work.session, request_id, me, mode, now=work.now, actor=work.actor)
            work.tell(
                "You are coaching: only the clinician hears you."
                if step == "coach"
                else "You have joined the call."
            )
        return redirect(url_for("console.floor"))

    return run(act, _actor(), _flash_refusal("console.floor"))
