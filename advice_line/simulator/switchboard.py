"""Simulated phones: place and answer calls, press keys, follow TwiML, send messages."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask
from twilio.request_validator import RequestValidator

from advice_line.simulator.recorder import tone_wav
from advice_line.telephony.protocol import GatewayError, ParticipantChange, PlacedCall
from advice_line.telephony.urls import webhook_url

MAX_REDIRECTS = 5


def new_sid(prefix: str) -> str:
    """Return a Twilio-shaped SID (two letters, 32 hex digits)."""
    return prefix + uuid.uuid4().hex


@dataclass
class SimCall:
    """One simulated call, as the phone at one end sees it."""

    sid: str
    number: str
    direction: str
    url: str | None = None
    status: str = "ringing"
    transcript: list[str] = field(default_factory=list)
    gather_action: str | None = None
    conference: str | None = None
    starts_conference: bool = False
    wait_url: str | None = None
    dial_action: str | None = None
    recording_callback: str | None = None
    sequence: int = 0
    ends_conference: bool = False
    held: bool = False
    muted: bool = False
    coaching: str | None = None

    def public(self, connected_rooms: set[str]) -> dict[str, Any]:
        """Describe the call for the simulator page."""
        return {
            "sid": self.sid,
            "number": self.number,
            "direction": self.direction,
            "status": self.status,
            "transcript": self.transcript[-12:],
            "awaiting_keys": self.gather_action is not None,
            "conference": self.conference,
            "talking": self.conference in connected_rooms and not self.held,
            "held": self.held,
            "muted": self.muted,
            "coaching": self.coaching,
        }


@dataclass
class SimMessage:
    """A message the line sent to a simulated phone."""

    sid: str
    to: str
    body: str


class Switchboard:
    """All simulated phones of one app process."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.lock = threading.RLock()
        self.calls: dict[str, SimCall] = {}
        self.messages: list[SimMessage] = []
        self.replies: list[tuple[str, str, str]] = []
        #: Conferences being recorded: when two were first talking, and where to report it.
        self.recording: dict[str, tuple[float, str]] = {}
        self.recordings: dict[str, bytes] = {}
        self._message_numbers = itertools.count(1)

    # --- signed requests to the line's webhooks -----------------------------------------

    def _path(self, url: str) -> str:
        return url.removeprefix(self.app.config["PUBLIC_BASE_URL"])

    def post(self, url: str, params: dict[str, str]) -> str:
        """POST to one of the line's webhooks, signed as Twilio signs; return the body."""
        path = self._path(url)
        signature = RequestValidator(self.app.config["TWILIO_AUTH_TOKEN"]).compute_signature(
            self.app.config["PUBLIC_BASE_URL"] + path, params
        )
        response = self.app.test_client().post(
            path, data=params, headers={"X-Twilio-Signature": signature}
        )
        return response.get_data(as_text=True)

    def _call_params(self, call: SimCall, **extra: str) -> dict[str, str]:
        number = self.app.config["TWILIO_NUMBER"]
        inbound = call.direction == "inbound"
        return {
            "AccountSid": self.app.config["TWILIO_ACCOUNT_SID"],
            "CallSid": call.sid,
            "From": call.number if inbound else number,
            "To": number if inbound else call.number,
            "CallStatus": call.status,
            "Direction": "inbound" if inbound else "outbound-api",
            **extra,
        }

    def _status_callback(self, call: SimCall) -> None:
        call.sequence += 1
        self.post(
            webhook_url("twilio.call_status"),
            self._call_params(call, SequenceNumber=str(call.sequence)),
        )

    # --- following TwiML ----------------------------------------------------------------

    def _run(self, call: SimCall, twiml: str, depth: int = 0) -> None:
        call.gather_action = None
        root = ET.fromstring(twiml)  # noqa: S314 - TwiML the line itself produced
        for verb in root:
            if verb.tag == "Say":
                call.transcript.append(verb.text or "")
            elif verb.tag == "Gather":
                call.transcript.extend(s.text or "" for s in verb if s.tag == "Say")
                call.gather_action = verb.get("action")
                return
            elif verb.tag == "Redirect" and depth < MAX_REDIRECTS:
                self._run(call, self.post(verb.text or "", self._call_params(call)), depth + 1)
                return
            elif verb.tag == "Hangup":
                self._end(call, "completed")
                return
            elif verb.tag == "Dial":
                self._dial(call, verb)
                return
        if call.conference is None and call.gather_action is None:
            self._end(call, "completed")

    def _dial(self, call: SimCall, dial: ET.Element) -> None:
        conference = dial.find("Conference")
        if conference is None:
            call.transcript.append(f"(dialling {''.join(dial.itertext()).strip()})")
            return
        call.conference = conference.text
        call.starts_conference = conference.get("startConferenceOnEnter") != "false"
        call.ends_conference = conference.get("endConferenceOnExit") == "true"
        call.muted = conference.get("muted") == "true"
        call.wait_url = conference.get("waitUrl")
        call.dial_action = dial.get("action")
        if conference.get("record") == "record-from-start":
            call.recording_callback = conference.get("recordingStatusCallback")
        self._start_recording(call.conference)
        self.refresh(call.sid)

    def _start_recording(self, room: str | None) -> None:
        """Record a conference from when two are talking, as Twilio does."""
        if room is None or room in self.recording or room not in self.connected_rooms():
            return
        callbacks = [
            c.recording_callback
            for c in self.calls.values()
            if c.conference == room and c.recording_callback
        ]
        if callbacks:
            self.recording[room] = (time.monotonic(), callbacks[0])

    def _finish_recording(self, room: str) -> None:
        """The recorded conference ended: keep a generated WAV and report it complete."""
        started, callback = self.recording.pop(room)
        sid, seconds = new_sid("RE"), max(1, min(round(time.monotonic() - started), 30))
        self.recordings[sid] = tone_wav(seconds)
        self.post(
            callback,
            {
                "AccountSid": self.app.config["TWILIO_ACCOUNT_SID"],
                "ConferenceSid": new_sid("CF"),
                "RecordingSid": sid,
                "RecordingStatus": "completed",
                "RecordingDuration": str(seconds),
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
            },
        )

    def _end(self, call: SimCall, status: str) -> None:
        if call.status in {"completed", "busy", "no-answer", "failed", "canceled"}:
            return
        room = call.conference
        call.status, call.conference, call.gather_action = status, None, None
        call.held = False
        call.transcript.append(f"(call {status})")
        self._status_callback(call)
        if room is not None and call.ends_conference:
            for other in list(self.calls.values()):
                if other.conference == room and other.status == "in-progress":
                    self._conference_ended(other)
            if room in self.recording:
                self._finish_recording(room)

    def _conference_ended(self, call: SimCall) -> None:
        call.conference = None
        if call.dial_action:
            self._run(call, self.post(call.dial_action, self._call_params(call)))
        else:
            self._end(call, "completed")

    def connected_rooms(self) -> set[str]:
        """Conferences with a clinician and an officer in them."""
        rooms: dict[str, list[SimCall]] = {}
        for call in self.calls.values():
            if call.conference and call.status == "in-progress":
                rooms.setdefault(call.conference, []).append(call)
        return {
            room
            for room, members in rooms.items()
            if len(members) > 1 and any(m.starts_conference for m in members)
        }

    # --- what a person does with a phone ------------------------------------------------

    def dial_line(self, number: str) -> SimCall:
        """An officer's phone rings the line."""
        with self.lock:
            call = SimCall(sid=new_sid("CA"), number=number, direction="inbound")
            self.calls[call.sid] = call
            call.status = "in-progress"
            self._run(call, self.post(webhook_url("twilio.incoming_call"), self._call_params(call)))
            return call

    def ring(self, to: str, url: str) -> SimCall:
        """The line places a call to a simulated phone (from the REST endpoint)."""
        with self.lock:
            call = SimCall(sid=new_sid("CA"), number=to, direction="outbound", url=url)
            self.calls[call.sid] = call
            return call

    def answer(self, sid: str) -> None:
        """Pick up a ringing phone; the line's TwiML plays."""
        with self.lock:
            call = self.calls[sid]
            if call.status != "ringing" or call.url is None:
                return
            call.status = "in-progress"
            self._status_callback(call)
            self._run(call, self.post(call.url, self._call_params(call)))

    def reject(self, sid: str) -> None:
        """Let a ringing phone go unanswered."""
        with self.lock:
            call = self.calls[sid]
            if call.status == "ringing":
                self._end(call, "no-answer")

    def press(self, sid: str, digits: str = "", speech: str = "") -> None:
        """Answer the current prompt by keypad or speech (empty: silence)."""
        with self.lock:
            call = self.calls[sid]
            if call.gather_action is None:
                return
            params = self._call_params(call, Digits=digits[:20])
            if speech:
                params["SpeechResult"] = speech[:200]
            self._run(call, self.post(call.gather_action, params))

    def star(self, sid: str) -> None:
        """Press star in a conference: leave it and go to the Dial action."""
        with self.lock:
            call = self.calls[sid]
            if call.conference and call.dial_action:
                call.conference = None
                self._run(call, self.post(call.dial_action, self._call_params(call)))

    def refresh(self, sid: str) -> None:
        """Hear the hold message again while waiting in a conference."""
        with self.lock:
            call = self.calls[sid]
            if call.conference and call.wait_url and call.conference not in self.connected_rooms():
                hold = ET.fromstring(self.post(call.wait_url, self._call_params(call)))  # noqa: S314
                call.transcript.extend(s.text or "" for s in hold if s.tag == "Say")

    def hang_up(self, sid: str) -> None:
        """Put the phone down."""
        with self.lock:
            self._end(self.calls[sid], "completed")

    def end_by_line(self, sid: str) -> None:
        """The line hung up this call through the REST API."""
        with self.lock:
            if sid in self.calls:
                self._end(self.calls[sid], "completed")

    def update_participant(self, room: str, sid: str, change: ParticipantChange) -> None:
        """The line changed a call in a conference through the REST API."""
        with self.lock:
            call = self.calls.get(sid)
            coached = self.calls.get(change.call_sid_to_coach or "")
            if call is None or call.conference != room or call.status != "in-progress":
                raise GatewayError(f"{sid} is not in conference {room}", code=20404, status=404)
            if change.coaching and coached is None:
                raise GatewayError("Coaching needs the call to coach", code=16025, status=400)
            if change.hold is not None and change.hold != call.held:
                call.held = change.hold
                call.transcript.append("(on hold: music)" if call.held else "(back in the call)")
            if change.end_conference_on_exit is not None:
                call.ends_conference = change.end_conference_on_exit
            if change.muted is not None:
                call.muted = change.muted
            if change.coaching is not None:
                call.coaching = coached.number if change.coaching and coached else None

    def text_line(self, number: str, body: str, *, whatsapp: bool = False) -> str:
        """Send a message to the line; return its reply."""
        with self.lock:
            sender = f"whatsapp:{number}" if whatsapp else number
            to = self.app.config["TWILIO_NUMBER"]
            params = {
                "MessageSid": new_sid("SM"),
                "AccountSid": self.app.config["TWILIO_ACCOUNT_SID"],
                "From": sender,
                "To": f"whatsapp:{to}" if whatsapp else to,
                "Body": body,
                "NumMedia": "0",
            }
            reply_xml = ET.fromstring(self.post(webhook_url("twilio.incoming_message"), params))  # noqa: S314
            reply = " ".join(m.text or "" for m in reply_xml.iter("Message"))
            self.replies.append((sender, body, reply))
            return reply

    def deliver(self, to: str, body: str) -> SimMessage:
        """The line sent a message to a simulated phone (from the REST endpoint)."""
        with self.lock:
            message = SimMessage(sid=new_sid("SM"), to=to, body=body)
            self.messages.append(message)
            return message

    def state(self) -> dict[str, Any]:
        """Everything the simulator page shows."""
        with self.lock:
            rooms = self.connected_rooms()
            return {
                "calls": [c.public(rooms) for c in reversed(self.calls.values())],
                "messages_from_line": [m.__dict__ for m in self.messages[-20:]],
                "messages_to_line": [
                    {"from": f, "body": b, "reply": r} for f, b, r in self.replies[-20:]
                ],
            }


def switchboard(app: Flask) -> Switchboard:
    """Return the app's switchboard, made once."""
    if "simulator" not in app.extensions:
        app.extensions["simulator"] = Switchboard(app)
    return app.extensions["simulator"]  # type: ignore[no-any-return]


class SimulatorGateway:
    """The gateway without Twilio: calls ring and messages arrive on simulated phones."""

    def __init__(self, board: Switchboard) -> None:
        self.board = board

    def place_call(self, to: str, url: str) -> PlacedCall:
        """Ring a simulated phone."""
        call = self.board.ring(to, url)
        return PlacedCall(sid=call.sid, status="queued")

    def end_call(self, call_sid: str) -> None:
        """Hang up a simulated call."""
        self.board.end_by_line(call_sid)

    def update_participant(self, room: str, call_sid: str, change: ParticipantChange) -> None:
        """Hold, release, mute or let coach a simulated call in a conference."""
        self.board.update_participant(room, call_sid, change)

    def send_message(self, to: str, body: str) -> str:
        """Deliver a message to a simulated phone."""
        return self.board.deliver(to, body).sid

    def calls_placed(self, to: str, since: datetime) -> list[str]:
        """None: the simulator answers at once, so no call is left in doubt."""
        return []

    def messages_sent(self, to: str, body: str, since: datetime) -> list[str]:
        """None: the simulator answers at once, so no message is left in doubt."""
        return []

    def recording_audio(self, recording_sid: str) -> bytes:
        """The generated WAV of a simulated recording."""
        with self.board.lock:
            if recording_sid not in self.board.recordings:
                raise GatewayError("No such recording", code=20404, status=404)
            return self.board.recordings[recording_sid]

    def delete_recording(self, recording_sid: str) -> None:
        """Forget a simulated recording (one already gone is not an error)."""
        with self.board.lock:
            self.board.recordings.pop(recording_sid, None)
