"""The one way out to Twilio's REST API: calls, messages, and fetching recordings.

Built on the Twilio SDK; ``TWILIO_API_BASE_URL`` points it at another server (a fake in
tests, staging), through the SDK's ``http_client`` extension point.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from requests import RequestException, Session
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from advice_line.telephony.protocol import Gateway, GatewayError, ParticipantChange, PlacedCall
from advice_line.telephony.urls import webhook_url

log = logging.getLogger(__name__)
TWILIO_API = "https://api.twilio.com"
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
_EXTENSION = "twilio_gateway"
#: How many of the newest calls or messages to one number are read when reconciling.
RECENT = 50


class _RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Send the SDK's requests to another base URL instead of api.twilio.com."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self.base_url + url.removeprefix(TWILIO_API)
        return super().request(method, url, *args, **kwargs)

    def media(self, url: str, auth: tuple[str, str]) -> bytes:
        """GET binary media (the SDK's ``Response`` keeps only text), following Twilio's
        redirect to where the file is."""
        url = self.base_url + url.removeprefix(TWILIO_API)
        response = (self.session or Session()).get(url, auth=auth, timeout=self.timeout)
        if response.status_code != 200:
            raise TwilioRestException(response.status_code, url, "media not served")
        return bytes(response.content)


class TwilioGateway:
    """Calls and messages through Twilio's REST API."""

    def __init__(self, config: dict[str, Any], *, timeout: float = 10.0) -> None:
        self.number: str = config["TWILIO_NUMBER"]
        self.http = _RebasedHttpClient(config["TWILIO_API_BASE_URL"], timeout)
        self.client = Client(
            config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], http_client=self.http
        )

    def place_call(self, to: str, url: str) -> PlacedCall:
        """Call ``to``; Twilio fetches TwiML from ``url`` and reports status changes."""
        try:
            call = self.client.calls.create(
                to=to,
                from_=self.number,
                url=url,
                method="POST",
                status_callback=webhook_url("twilio.call_status"),
                status_callback_event=CALL_EVENTS,
                status_callback_method="POST",
                timeout=25,
            )
        except (TwilioRestException, RequestException) as error:
            raise _gateway_error("call", error) from error
        return PlacedCall(sid=str(call.sid), status=str(call.status))

    def end_call(self, call_sid: str) -> None:
        """Hang up a call that is ringing or in progress."""
        try:
            self.client.calls(call_sid).update(status="completed")
        except (TwilioRestException, RequestException) as error:
            raise _gateway_error("hang up", error) from error

    def update_participant(self, room: str, call_sid: str, change: ParticipantChange) -> None:
        """Find the live conference named ``room``, then update the call's participant."""
        try:
            live = self.client.conferences.list(friendly_name=room, status="in-progress", limit=1)
            if not live:
                raise GatewayError(f"No live conference {room}", code=20404, status=404)
            self.client.conferences(live[0].sid).participants(call_sid).update(**change.asked())
        except (TwilioException, RequestException) as error:
            raise _gateway_error("conference participant update", error) from error

    def _sender(self, to: str) -> str:
        return f"whatsapp:{self.number}" if to.startswith("whatsapp:") else self.number

    def send_message(self, to: str, body: str) -> str:
        """Send an SMS, or a WhatsApp message when ``to`` starts with ``whatsapp:``."""
        sender = self._sender(to)
        try:
            message = self.client.messages.create(
                to=to,
                from_=sender,
                body=body,
                status_callback=webhook_url("twilio.message_status"),
            )
        except (TwilioRestException, RequestException) as error:
            raise _gateway_error("message", error) from error
        return str(message.sid)

    def calls_placed(self, to: str, since: datetime) -> list[str]:
        """Read Calls (To, From filters; newest first) for those created since ``since``."""
        try:
            calls = self.client.calls.list(to=to, from_=self.number, limit=RECENT)
        except (TwilioException, RequestException) as error:
            raise _gateway_error("list of calls", error) from error
        floor = since.replace(microsecond=0)  # Twilio's dates are to the second
        return [str(c.sid) for c in calls if c.date_created and c.date_created >= floor]

    def messages_sent(self, to: str, body: str, since: datetime) -> list[str]:
        """Read Messages (To, From filters) for ``body`` created since ``since``."""
        try:
            found = self.client.messages.list(to=to, from_=self._sender(to), limit=RECENT)
        except (TwilioException, RequestException) as error:
            raise _gateway_error("list of messages", error) from error
        floor = since.replace(microsecond=0)
        return [
            str(m.sid)
            for m in found
            if m.body == body and m.date_created and m.date_created >= floor
        ]

    def recording_audio(self, recording_sid: str) -> bytes:
        """GET the recording's WAV (``.../Recordings/{Sid}.wav``) with the account's key."""
        account = self.client.username
        url = f"{TWILIO_API}/2010-04-01/Accounts/{account}/Recordings/{recording_sid}.wav"
        try:
            return self.http.media(url, (account, self.client.password))
        except (TwilioRestException, RequestException) as error:
            raise _gateway_error("recording's audio", error) from error

    def delete_recording(self, recording_sid: str) -> None:
        """DELETE the recording at Twilio; one Twilio no longer has (404) is already gone."""
        try:
            self.client.recordings(recording_sid).delete()
        except TwilioRestException as error:
            if error.status != 404:
                raise _gateway_error("recording's deletion", error) from error
        except RequestException as error:
            raise _gateway_error("recording's deletion", error) from error


def _gateway_error(what: str, error: Exception) -> GatewayError:
    if isinstance(error, TwilioRestException):
        # Twilio's message can quote the number; the code says what went wrong.
        log.warning("Twilio refused the %s: HTTP %s, error %s", what, error.status, error.code)
        return GatewayError(
            f"Twilio refused the {what}: {error.msg}", code=error.code, status=error.status
        )
    log.warning("Twilio could not be reached for the %s: %s", what, error)
    return GatewayError(f"Twilio could not be reached for the {what}", code=None, status=503)


def install(app: Flask, way_out: Gateway) -> None:
    """Make ``way_out`` the app's gateway (the simulator's, in a demo without Twilio)."""
    app.extensions[_EXTENSION] = way_out


def gateway(app: Flask | None = None) -> Gateway:
    """Return the app's gateway: the one installed at start-up, else Twilio's, made once."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if _EXTENSION not in app.extensions:
        install(app, TwilioGateway(app.config))
    return app.extensions[_EXTENSION]  # type: ignore[no-any-return]
