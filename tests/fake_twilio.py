"""A local stand-in for Twilio's REST API, as strict as Twilio where the app can go wrong.

It checks HTTP Basic auth, validates every request against Twilio's own OpenAPI
description (the Calls and Messages operations), applies the rules the description
leaves out (exactly one of Url/Twiml/ApplicationSid), and answers with Twilio-shaped
bodies, including Twilio's errors: 21211 (invalid 'To' number), 20429 (too many
requests) and 500. It lists the calls and messages it accepted (GET Calls.json and
Messages.json, filtered by To and From, newest first, as Twilio does), which the outbox
reads to reconcile a request whose answer it never saw; ``delay`` holds each answer back
after the call or message is recorded, to open that window for the kill -9 drill.
Recordings it "made" (``make_recording``) are served as Twilio serves them: the resource
(GET, DELETE ``Recordings/{Sid}.json``) and its audio (GET ``Recordings/{Sid}.wav``);
an unknown or deleted one is Twilio's 404 (20404).

Conferences are not run from TwiML here: a test opens one with ``open_conference`` (the
calls in it), and the fake lists it by FriendlyName and Status and updates its
participants (Hold, Muted, EndConferenceOnExit, Coaching with CallSidToCoach) as Twilio
does, refusing a call that is not in it (20404) and coaching without a call to coach.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

SPEC = Path(__file__).parent / "twilio" / "twilio_api_v2010_calls_messages.json"
INVALID_NUMBER = "+15005550001"  # Twilio's own magic "invalid number" test value
CALLS = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls\.json$")
CALL = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/(CA[0-9a-f]{32})\.json$")
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")
RECORDING = re.compile(
    r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Recordings/(RE[0-9a-f]{32})\.(json|wav)$"
)
CONFERENCES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Conferences\.json$")
PARTICIPANT = re.compile(
    r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Conferences/(CF[0-9a-f]{32})"
    r"/Participants/(CA[0-9a-f]{32})\.json$"
)
#: Participant fields a test reads back, with Twilio's defaults.
PARTICIPANT_DEFAULTS = {
    "Hold": "false",
    "Muted": "false",
    "Coaching": "false",
    "EndConferenceOnExit": "false",
}


@dataclass
class Conference:
    """A live conference: its SID, name and the participants by CallSid."""

    sid: str
    friendly_name: str
    participants: dict[str, dict[str, str]]
    status: str = "in-progress"


@dataclass
class Received:
    """One request the fake accepted."""

    path: str
    form: dict[str, str]
    sid: str
    at: float = field(default_factory=time.monotonic)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeTwilio:
    """Run with ``start()``; point ``TWILIO_API_BASE_URL`` at ``base_url``."""

    account_sid: str
    auth_token: str
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    failures: list[tuple[int, int, str | None]] = field(default_factory=list)
    base_url: str = ""
    delay: float = 0.0
    conferences: list[Conference] = field(default_factory=list)
    recordings: dict[str, bytes] = field(default_factory=dict)
    deleted_recordings: list[str] = field(default_factory=list)
    media_served: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Serve on a free loopback port in a background thread."""
        self.server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        spec = json.loads(SPEC.read_text())
        for item in spec["paths"].values():
            item["servers"] = [{"url": self.base_url}]
        self.openapi = OpenAPI.from_dict(spec)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def open_conference(self, name: str, *call_sids: str, **settings: str) -> Conference:
        """A conference Twilio is running with these calls in it (``settings`` each)."""
        room = Conference(sid="CF" + uuid.uuid4().hex, friendly_name=name, participants={})
        for call_sid in call_sids:  # each participant its own fields
            room.participants[call_sid] = PARTICIPANT_DEFAULTS | settings
        self.conferences.append(room)
        return room

    def reset(self) -> None:
        """Forget everything received, refused, queued to fail or recorded."""
        for kept in (
            self.received,
            self.refused,
            self.failures,
            self.recordings,
            self.deleted_recordings,
            self.media_served,
            self.conferences,
        ):
            kept.clear()

    def fail_next(self, status: int, code: int, method: str | None = None) -> None:
        """Answer the next request (of ``method``, if given) with a Twilio error instead."""
        self.failures.append((status, code, method))

    def calls(self) -> list[Received]:
        """Calls the app placed."""
        return [r for r in self.received if CALLS.match(r.path)]

    def messages(self) -> list[Received]:
        """Messages the app sent."""
        return [r for r in self.received if MESSAGES.match(r.path)]

    def make_recording(self, audio: bytes) -> str:
        """Hold a recording of ``audio`` (as Twilio does once a conference ends); its SID."""
        sid = "RE" + uuid.uuid4().hex
        self.recordings[sid] = audio
        return sid

    def _recording(self, method: str, account: str, sid: str, kind: str) -> Response:
        if account != self.account_sid or sid not in self.recordings:
            return self._error(404, 20404, "The requested resource was not found")
        if method == "DELETE":
            del self.recordings[sid]
            self.deleted_recordings.append(sid)
            return Response(status=204)
        if kind == "wav":
            self.media_served.append(sid)
            return Response(self.recordings[sid], status=200, mimetype="audio/x-wav")
        body = {
            "sid": sid,
            "account_sid": account,
            "status": "completed",
            "uri": f"/2010-04-01/Accounts/{account}/Recordings/{sid}.json",
        }
        return Response(json.dumps(body), status=200, mimetype="application/json")

    def _error(self, status: int, code: int, message: str) -> Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        self.refused.append((status, body))
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI entry point."""
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Handle one REST request."""
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        try:
            self.openapi.validate_request(WerkzeugOpenAPIRequest(request))
        except Exception as invalid:
            return self._error(400, 21000, f"Invalid request: {invalid}")
        form = request.form.to_dict()
        for failure in self.failures:
            status, code, method = failure
            if method in (None, request.method):
                self.failures.remove(failure)
                return self._error(status, code, "Simulated failure")
        if request.method == "GET" and CONFERENCES.match(request.path):
            return self._list_conferences(request.path, request.args.to_dict())
        if found := PARTICIPANT.match(request.path):
            return self._update_participant(request, found.group(2), found.group(3), form)
        listed = {"calls": CALLS, "messages": MESSAGES}
        for key, pattern in listed.items():
            if request.method == "GET" and pattern.match(request.path):
                return self._list(key, request.path, request.args.to_dict())
        if recording := RECORDING.match(request.path):
            return self._recording(request.method, *recording.groups())
        if calls := CALLS.match(request.path):
            return self._create_call(request.path, calls.group(1), form)
        if call := CALL.match(request.path):
            return self._respond(request.path, form, "CA", {"sid": call.group(2), **form})
        if MESSAGES.match(request.path):
            if form.get("To", "").removeprefix("whatsapp:") == INVALID_NUMBER:
                return self._error(400, 21211, f"The 'To' number {form['To']} is not valid.")
            return self._respond(request.path, form, "SM", {"status": "queued", **form})
        return self._error(404, 20404, "The requested resource was not found")

    def _create_call(self, path: str, account: str, form: dict[str, str]) -> Response:
        given = [name for name in ("Url", "Twiml", "ApplicationSid") if form.get(name)]
        if len(given) != 1:
            return self._error(400, 21205, "Exactly one of Url, Twiml or ApplicationSid")
        if account != self.account_sid:
            return self._error(403, 20003, "Account mismatch")
        if form["To"] == INVALID_NUMBER:
            return self._error(400, 21211, f"The 'To' number {form['To']} is not valid.")
        return self._respond(path, form, "CA", {"status": "queued", "to": form["To"]})

    def _resource(self, received: Received, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "sid": received.sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "date_created": format_datetime(received.created),
            "uri": received.path.removesuffix(".json") + f"/{received.sid}.json",
            **{k.lower(): v for k, v in extra.items()},
        }

    def _respond(
        self, path: str, form: dict[str, str], prefix: str, extra: dict[str, Any]
    ) -> Response:
        received = Received(path=path, form=form, sid=extra.get("sid") or prefix + uuid.uuid4().hex)
        self.received.append(received)
        if self.delay:
            time.sleep(self.delay)  # recorded, but the app has not heard yet
        body = self._resource(received, extra)
        return Response(json.dumps(body), status=201, mimetype="application/json")

    def _list(self, key: str, path: str, args: dict[str, str]) -> Response:
        """Twilio's list: filtered by To and From, newest first, one page."""
        found = [
            r
            for r in reversed(self.calls() if key == "calls" else self.messages())
            if all(r.form.get(name) == args[name] for name in ("To", "From") if name in args)
        ]
        size = int(args.get("PageSize", 50))
        items = [
            self._resource(
                r, {"to": r.form["To"], "from": r.form["From"], "body": r.form.get("Body")}
            )
            for r in found[:size]
        ]
        page = {
            key: items,
            "page": 0,
            "page_size": size,
            "start": 0,
            "end": max(len(items) - 1, 0),
            "uri": path,
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
        }
        return Response(json.dumps(page), status=200, mimetype="application/json")

    def _list_conferences(self, path: str, args: dict[str, str]) -> Response:
        """Twilio's conference list, filtered by FriendlyName and Status, newest first."""
        found = [
            {
                "sid": room.sid,
                "account_sid": self.account_sid,
                "friendly_name": room.friendly_name,
                "status": room.status,
                "api_version": "2010-04-01",
                "uri": path.removesuffix(".json") + f"/{room.sid}.json",
            }
            for room in reversed(self.conferences)
            if args.get("FriendlyName", room.friendly_name) == room.friendly_name
            and args.get("Status", room.status) == room.status
        ]
        size = int(args.get("PageSize", 50))
        page = {
            "conferences": found[:size],
            "page": 0,
            "page_size": size,
            "start": 0,
            "end": max(len(found[:size]) - 1, 0),
            "uri": path,
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
        }
        return Response(json.dumps(page), status=200, mimetype="application/json")

    def _update_participant(
        self, request: Request, conference_sid: str, call_sid: str, form: dict[str, str]
    ) -> Response:
        """Update a participant of a live conference, as strictly as Twilio."""
        if request.method != "POST":
            return self._error(405, 20004, "Method not allowed")
        room = next((c for c in self.conferences if c.sid == conference_sid), None)
        if room is None or room.status != "in-progress" or call_sid not in room.participants:
            return self._error(404, 20404, f"Participant {call_sid} is not in {conference_sid}")
        if form.get("Coaching") == "true" and not form.get("CallSidToCoach"):
            return self._error(400, 16025, "Coaching requires CallSidToCoach")
        if form.get("CallSidToCoach") and form["CallSidToCoach"] not in room.participants:
            return self._error(400, 16026, "The call to coach is not in the conference")
        participant = room.participants[call_sid]
        participant.update(form)
        self.received.append(Received(path=request.path, form=form, sid=call_sid))
        body = {
            "account_sid": self.account_sid,
            "call_sid": call_sid,
            "conference_sid": conference_sid,
            "hold": participant["Hold"] == "true",
            "muted": participant["Muted"] == "true",
            "coaching": participant["Coaching"] == "true",
            "end_conference_on_exit": participant["EndConferenceOnExit"] == "true",
            "status": "connected",
            "uri": request.path,
        }
        return Response(json.dumps(body), status=200, mimetype="application/json")
