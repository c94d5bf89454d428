"""The simulator page (demo mode only): an officer's phone and the clinicians' phones."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from sqlalchemy import select

from advice_line.audit import Actor
from advice_line.demo import CONSOLE_CLINICIAN
from advice_line.extensions import db
from advice_line.inputs import parse_id
from advice_line.lifecycle.errors import DomainError
from advice_line.models import AdviceRequest, Clinician, OfficerPhone, User
from advice_line.simulator.switchboard import switchboard
from advice_line.telephony.call_back import call_officer_back
from advice_line.telephony.replies import reply_to_officer
from advice_line.transaction import Work, run

bp = Blueprint("simulator", __name__, url_prefix="/simulator", template_folder="templates")
ACTIONS = {
    "dial",
    "answer",
    "reject",
    "press",
    "star",
    "refresh",
    "hangup",
    "text",
    "reply",
    "call_back",
}


@bp.before_request
def demo_only() -> None:
    """The simulator exists only without Twilio credentials."""
    if not current_app.config["TWILIO_SIMULATED"]:
        abort(404)


@bp.get("/")
def page() -> str:
    """The two sides of the phone line, side by side."""
    officers = db.session.scalars(select(OfficerPhone).order_by(OfficerPhone.id)).all()
    clinicians = db.session.execute(
        select(User.display_name, Clinician.phone, Clinician.id)
        .join(Clinician.user)
        .where(Clinician.phone.is_not(None))
        .order_by(Clinician.id)
    ).all()
    return render_template(
        "simulator/simulator.html",
        officers=officers,
        clinicians=clinicians,
        line_number=current_app.config["TWILIO_NUMBER"],
        console_clinician=CONSOLE_CLINICIAN,
    )


@bp.get("/state")
def state() -> Response:
    """Every simulated call and message, for the page to show."""
    return jsonify(switchboard(current_app._get_current_object()).state())  # type: ignore[attr-defined]


def _field(form: dict[str, Any], name: str, limit: int = 200) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f"{name} is required (at most {limit} characters)")
    return value.strip()


@bp.post("/act")
def act() -> tuple[Response, int] | Response:
    """Do one thing with a simulated phone; answer the new state or a clear error."""
    form = request.get_json(silent=True)
    if not isinstance(form, dict) or form.get("action") not in ACTIONS:
        return jsonify(error=f"action must be one of {sorted(ACTIONS)}"), 400
    board = switchboard(current_app._get_current_object())  # type: ignore[attr-defined]
    action = form["action"]
    try:
        if action == "dial":
            board.dial_line(_field(form, "number", 40))
        elif action == "text":
            board.text_line(
                _field(form, "number", 40),
                _field(form, "body", 1600),
                whatsapp=bool(form.get("whatsapp")),
            )
        elif action in {"reply", "call_back"}:
            _clinician_action(action, form)
        else:
            sid = _field(form, "sid", 64)
            if sid not in board.calls:
                return jsonify(error=f"no simulated call {sid}"), 404
            if action == "press":
                digits = str(form.get("digits", ""))[:20]
                board.press(sid, digits=digits, speech=str(form.get("speech", ""))[:200])
            else:
                {
                    "answer": board.answer,
                    "reject": board.reject,
                    "star": board.star,
                    "refresh": board.refresh,
                    "hangup": board.hang_up,
                }[action](sid)
    except (ValueError, DomainError) as refused:
        return jsonify(error=str(refused)), 400
    return jsonify(board.state())


def _clinician_action(action: str, form: dict[str, Any]) -> None:
    reference = _field(form, "reference", 20).upper().removeprefix("AL-")
    request_id = parse_id(reference)
    if request_id is None:
        raise ValueError("reference must look like AL-12")
    advice = db.session.get(AdviceRequest, request_id)
    if advice is None:
        raise ValueError(f"there is no request AL-{reference}")
    clinician_id = parse_id(_field(form, "clinician", 10))
    if clinician_id is None:
        raise ValueError("clinician must be a clinician's number")
    body = _field(form, "body", 1600) if action == "reply" else ""

    def act(work: Work) -> None:
        if action == "reply":
            reply_to_officer(
                work.session, advice.id, clinician_id, body, now=work.now, actor=work.actor
            )
        else:
            call_officer_back(
                work.session,
                advice.id,
                clinician_id,
                now=work.now,
                actor=work.actor,
                policy=work.policy,
            )

    run(act, Actor("simulator"))
