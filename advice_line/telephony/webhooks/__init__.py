"""Twilio's webhooks: thin routes over intake, call legs and messages, every one signed.

Fixed paths (configured in Twilio): ``/twilio/voice``, ``/twilio/voice/status``,
``/twilio/sms``; the rest are ours and handed to Twilio in TwiML or REST calls.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException

from advice_line import metrics
from advice_line.audit import Actor
from advice_line.extensions import db
from advice_line.inputs import without_control_codes
from advice_line.models import AdviceRequest
from advice_line.telephony import twiml

bp = Blueprint("twilio", __name__, url_prefix="/twilio")
log = logging.getLogger(__name__)
TWIML = "text/xml"
SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
MESSAGE_STATUS = re.compile(r"[a-z_-]{1,40}")
MAX_SEQUENCE_NUMBER = 2**31 - 1


def _param(name: str, limit: int = 200, form: Mapping[str, str] | None = None) -> str:
    """A parameter as Twilio sent it (in ``form``, by default this request's), without
    control codes, cut to ``limit`` characters."""
    given = request.form if form is None else form
    return str(without_control_codes(given.get(name, "")))[:limit]


def _sid(name: str, form: Mapping[str, str] | None = None) -> str:
    """A Twilio SID parameter (two letters, 32 hex digits), or "" if it is not one."""
    value = (request.form if form is None else form).get(name, "")
    return value if SID.fullmatch(value) else ""


def _actor(form: Mapping[str, str] | None = None) -> Actor:
    sid = _sid("CallSid", form) or _sid("MessageSid", form) or _sid("RecordingSid", form)
    return Actor("twilio", source=sid or None)


def _xml(body: str) -> Response:
    return Response(body, mimetype=TWIML)


def _signed_with(url: str, signature: str) -> str | None:
    """Which auth token signed this request: "current", "previous" (during a rotation,
    with ``TWILIO_AUTH_TOKEN_PREVIOUS`` set) or None (neither)."""
    tokens = {
        "current": current_app.config["TWILIO_AUTH_TOKEN"],
        "previous": current_app.config["TWILIO_AUTH_TOKEN_PREVIOUS"],
    }
    for name, token in tokens.items():
        if token and RequestValidator(token).validate(url, request.form, signature):
            return name
    return None


def signed(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse (403, nothing stored) any request without a valid X-Twilio-Signature."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Response:
        path = request.full_path.rstrip("?") if request.query_string else request.path
        url = current_app.config["PUBLIC_BASE_URL"] + path
        signature = request.headers.get("X-Twilio-Signature", "")
        signed_with = _signed_with(url, signature) if signature else None
        if signed_with is None:
            log.warning("refused unsigned or tampered Twilio request to %s", request.path)
            abort(403)
        if signed_with == "previous":
            log.info("Twilio request to %s signed with the previous auth token", request.path)
            metrics.webhook_signed_with_previous_token()
        return view(*args, **kwargs)

    return checked


def _guarded(
    view: Callable[..., Response], instead: Callable[[str | None], str], what: str
) -> Callable[..., Response]:
    """A signed webhook that answers ``instead`` (TwiML) if anything inside fails."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except HTTPException:
            raise  # a request that is not Twilio's own (unknown request, no CallSid): 4xx
        except Exception:
            log.exception(
                "%s webhook %s failed; answering with what to do instead", what, request.path
            )
            try:
                db.session.rollback()  # a failed read outside the transaction edge
            except Exception:
                log.exception("rollback failed too")
            return _xml(instead(current_app.config["FALLBACK_NUMBER"]))

    return signed(guarded)


def voice(view: Callable[..., Response]) -> Callable[..., Response]:
    """A signed voice webhook that answers fallback TwiML if anything inside fails."""
    return _guarded(view, twiml.fallback, "voice")


def message(view: Callable[..., Response]) -> Callable[..., Response]:
    """A signed message webhook that tells the officer what to do if anything fails."""
    return _guarded(view, twiml.message_fallback, "message")


def _waiting_request(request_id: int) -> AdviceRequest:
    found = db.session.get(AdviceRequest, request_id)
    if found is None:
        abort(404)
    return found


# The routes, by conversation (they register themselves on ``bp``).
from advice_line.telephony.webhooks import clinician, officer, reports  # noqa: E402

__all__ = ["bp", "clinician", "officer", "reports"]
