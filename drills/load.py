"""Officers calling and texting the line from client threads, remembering what was acknowledged."""

from __future__ import annotations

import itertools
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from drills.harness import LINE_NUMBER, PUBLIC, new_sid, signed_post

MAX_INTAKE_STEPS = 8


class NotServed(Exception):
    """The line answered, but not with the next step (the fallback, for instance)."""


@dataclass
class Acknowledged:
    """What the line answered 200 to: SMS by MessageSid, calls by CallSid and how far."""

    messages: dict[str, int] = field(default_factory=dict)
    calls_opened: set[str] = field(default_factory=set)
    calls_queued: set[str] = field(default_factory=set)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def text_the_line(base: str, sender: str, body: str) -> tuple[str, int | None]:
    """Send one SMS; return its MessageSid and the request number in the reply, if any."""
    sid = new_sid("SM")
    params = {"MessageSid": sid, "From": sender, "To": LINE_NUMBER, "Body": body}
    reply = signed_post(base, "/twilio/sms", params)
    reply.raise_for_status()
    found = re.search(r"AL-(\d+)", reply.text)
    return sid, int(found.group(1)) if found else None


def call_the_line(base: str, caller: str, call_sid: str, on_opened: Callable[[], None]) -> None:
    """Ring the line and answer every question "no" until the officer waits in the conference."""
    params = {"CallSid": call_sid, "From": caller, "To": LINE_NUMBER}
    answer = signed_post(base, "/twilio/voice", params)
    answer.raise_for_status()
    on_opened()
    for _ in range(MAX_INTAKE_STEPS):
        document = ET.fromstring(answer.text)  # noqa: S314 - our own server's TwiML
        if document.find(".//Conference") is not None:
            return
        gather = document.find("Gather")
        if gather is None:
            raise NotServed(answer.text)
        path = str(gather.get("action")).removeprefix(PUBLIC)
        answer = signed_post(base, path, {**params, "Digits": "2"})
        answer.raise_for_status()
    raise NotServed("intake never ended")


class OfficerLoad:
    """Threads that keep calling and texting the line until stopped."""

    def __init__(self, base: str, threads: int = 2, pause: float = 0.5) -> None:
        self.base = base
        self.pause = pause
        self.acknowledged = Acknowledged()
        self.stopping = threading.Event()
        self._numbers = itertools.count(1000)
        self.threads = [threading.Thread(target=self._officer, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        """Start the officers."""
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """Stop and wait for the officers."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _officer(self) -> None:
        seen = self.acknowledged
        for turn in itertools.count():
            if self.stopping.wait(self.pause):
                return
            try:
                # Every call and message from a number of its own: a second one from a
                # number with a request in progress would join it, not open another.
                sender = f"+4477009{next(self._numbers):05d}"
                if turn % 2:
                    sid, number = text_the_line(self.base, sender, "Man on the bridge, distressed")
                    if number is not None:
                        with seen.lock:
                            seen.messages[sid] = number
                else:
                    call_sid = new_sid("CA")

                    def opened(call_sid: str = call_sid) -> None:
                        with seen.lock:
                            seen.calls_opened.add(call_sid)

                    call_the_line(self.base, sender, call_sid, opened)
                    with seen.lock:
                        seen.calls_queued.add(call_sid)
            except (requests.RequestException, ET.ParseError, NotServed):
                with seen.lock:
                    seen.refused += 1
