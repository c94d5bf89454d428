"""The clinician's browser as their phone: its Twilio identity, its token, where to ring.

A clinician at a console whose page has registered Twilio's Voice SDK device (and been
allowed the microphone) is rung at ``client:<identity>``; otherwise, or when that call
is not answered, at their phone number. The identity names the clinician's record, not
the person: ``clinician-<id>``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from advice_line import lifecycle
from advice_line.clock import utcnow
from advice_line.models import CallLeg, Clinician, OutboxPurpose
from advice_line.telephony import outbox
from advice_line.telephony.urls import webhook_url
from advice_line.transaction import current_policy

CLIENT = "client:"
IDENTITY_PREFIX = "clinician-"


def identity(clinician_id: int) -> str:
    """The clinician's identity to Twilio's Voice SDK (no name, no number)."""
    return f"{IDENTITY_PREFIX}{clinician_id}"


def address(clinician_id: int) -> str:
    """Where Twilio rings the clinician's browser."""
    return CLIENT + identity(clinician_id)


def rings_browser(leg: CallLeg) -> bool:
    """Whether the leg rang a browser rather than a phone."""
    return leg.number.startswith(CLIENT)


def access_token(config: dict[str, Any], clinician_id: int) -> str:
    """A short-lived token that lets one clinician's browser receive the line's calls."""
    token = AccessToken(
        config["TWILIO_ACCOUNT_SID"],
        config["TWILIO_API_KEY_SID"],
        config["TWILIO_API_KEY_SECRET"],
        identity=identity(clinician_id),
        ttl=config["BROWSER_PHONE_TOKEN_SECONDS"],
        grants=[VoiceGrant(incoming_allow=True)],
    )
    return str(token.to_jwt())


def ring_clinician_in(
    session: Session, request_id: int, clinician: Clinician, *, phone_only: bool = False
) -> None:
    """Ring the clinician who took the request into its conference, once committed.

    Their browser if it can take calls (and ``phone_only`` is not asked), else their
    phone; nothing if they have neither.
    """
    browser = not phone_only and lifecycle.takes_calls_in_browser(
        clinician, now=utcnow(), policy=current_policy()
    )
    to = address(clinician.id) if browser else clinician.phone
    if to is None:
        return
    outbox.enqueue(
        session,
        OutboxPurpose.CLINICIAN_IN,
        request_id=request_id,
        to=to,
        url=webhook_url("twilio.clinician_answered", request_id=request_id),
        clinician_id=clinician.id,
    )
