"""The browser phone's token: a signed-in clinician's browser may receive the line's calls."""

from __future__ import annotations

from flask import Response, abort, current_app, jsonify

from advice_line.audit import record_event
from advice_line.auth.roles import roles_required
from advice_line.console.routes import _actor, _me, bp
from advice_line.models import Role
from advice_line.telephony import browser_phone
from advice_line.transaction import Work, run


@bp.post("/console/api/phone-token")
@roles_required(Role.CLINICIAN, Role.SENIOR_CLINICIAN)
def phone_token() -> Response:
    """A Voice SDK access token for this clinician's browser, valid a few minutes (audited)."""
    if not current_app.config["BROWSER_PHONE"]:
        abort(404, "The browser phone is not set up: calls ring your phone.")
    clinician_id = _me()

    def issue(work: Work) -> Response:
        record_event(
            work.session,
            work.actor,
            "clinician.browser_phone_token",
            now=work.now,
            subject=("clinician", clinician_id),
        )
        response = jsonify(
            token=browser_phone.access_token(current_app.config, clinician_id),
            identity=browser_phone.identity(clinician_id),
            expires_in=current_app.config["BROWSER_PHONE_TOKEN_SECONDS"],
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    return run(issue, _actor())
