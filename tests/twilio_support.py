"""Driving the line as Twilio does: signed webhook requests and TwiML checked on the way."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from tests.twiml_check import twiml_errors

TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "a" * 32
PUBLIC = "https://line.example.test"
LINE_NUMBER = "+441632960999"
FALLBACK = "+441632960500"


def twilio_env(base_url: str) -> dict[str, str]:
    """Environment of an app that talks to the fake Twilio at ``base_url``."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_NUMBER": LINE_NUMBER,
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_API_BASE_URL": base_url,
        "FALLBACK_NUMBER": FALLBACK,
    }


def signature(url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature for a POST to ``url``."""
    return str(RequestValidator(TOKEN).compute_signature(url, params))


@dataclass
class Twilio:
    """Sends what Twilio would send, and checks what comes back."""

    app: Flask
    client: FlaskClient

    def post(self, url: str, params: dict[str, str], *, sign: bool = True) -> TestResponse:
        """POST signed (unless told not) to a path or to an absolute public URL."""
        path = url.removeprefix(PUBLIC)
        headers = {"X-Twilio-Signature": signature(PUBLIC + path, params)} if sign else {}
        response = self.client.post(path, data=params, headers=headers)
        if response.mimetype == "text/xml":
            kind = "messaging" if path.startswith("/twilio/sms") else "voice"
            errors = twiml_errors(response.get_data(as_text=True), kind)
            assert errors == [], f"{path} answered invalid TwiML: {errors}"
        return response

    def twiml(self, url: str, params: dict[str, str]) -> ET.Element:
        """POST and return the TwiML document, which must be valid."""
        response = self.post(url, params)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/xml"
        return ET.fromstring(response.get_data(as_text=True))  # noqa: S314


def spoken(document: ET.Element) -> str:
    """Everything the caller hears, in order."""
    return " ".join((say.text or "") for say in document.iter("Say"))


def gather_action(document: ET.Element) -> str:
    """The URL the current question's answer goes to."""
    gather = document.find("Gather")
    assert gather is not None, ET.tostring(document)
    return str(gather.get("action"))


def attribute(document: ET.Element, path: str, name: str) -> str:
    """An attribute of the element at ``path``, which must be there."""
    element = document.find(path)
    assert element is not None, f"no {path} in {ET.tostring(document)!r}"
    return str(element.get(name))


def text_of(document: ET.Element, path: str) -> str:
    """The text of the element at ``path``, which must be there."""
    element = document.find(path)
    assert element is not None, f"no {path} in {ET.tostring(document)!r}"
    return element.text or ""
