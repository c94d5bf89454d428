"""Logs: one JSON object a line, sharing the request's id, with no phone numbers in them."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from advice_line.config import settings_from_env
from advice_line.telephony.gateway import gateway
from advice_line.telephony.protocol import GatewayError
from tests.conftest import PRODUCTION_ENV
from tests.fake_twilio import INVALID_NUMBER, FakeTwilio
from tests.twilio_support import LINE_NUMBER, Twilio, twilio_env

OFFICER = "+447700900301"


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return {"LOG_FORMAT": "json", **twilio_env(fake_twilio.base_url)}


def logged(capsys: pytest.CaptureFixture[str]) -> tuple[str, list[dict[str, Any]]]:
    """What was written to standard error since the last call, and each line parsed."""
    written = capsys.readouterr().err
    return written, [json.loads(line) for line in written.splitlines()]


def test_a_request_logs_json_lines_that_share_its_request_id(
    twilio: Twilio, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = twilio.client.post(
        "/twilio/voice",
        data={"CallSid": "CA" + "1" * 32, "From": OFFICER},
        headers={"X-Request-Id": "lb-7f3a.42"},
    )
    logging.getLogger("advice_line.test").info("after the request")

    assert response.status_code == 403
    assert response.headers["X-Request-Id"] == "lb-7f3a.42"
    _, lines = logged(capsys)
    by_logger = {line["logger"]: line for line in lines}
    refused = by_logger["advice_line.telephony.webhooks"]
    assert (refused["level"], refused["request_id"]) == ("WARNING", "lb-7f3a.42")
    assert refused["message"] == "refused unsigned or tampered Twilio request to /twilio/voice"
    access = by_logger["advice_line.access"]
    assert access["request_id"] == "lb-7f3a.42"
    assert (access["method"], access["path"], access["status"]) == ("POST", "/twilio/voice", 403)
    assert 0 <= access["duration_ms"] < 10_000
    assert datetime.fromisoformat(access["time"]).utcoffset() is not None
    assert by_logger["advice_line.test"]["request_id"] is None


@pytest.mark.parametrize("offered", [None, "", "two words", "x" * 65, "id;rm", "é"])
def test_a_missing_or_unsafe_request_id_is_replaced(
    app: Flask, offered: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {} if offered is None else {"X-Request-Id": offered}
    capsys.readouterr()
    first = app.test_client().get("/healthz", headers=headers)
    second = app.test_client().get("/healthz", headers=headers)

    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    assert ids[0] != ids[1]
    _, lines = logged(capsys)
    assert [line["request_id"] for line in lines if line["logger"] == "advice_line.access"] == ids


def test_phone_numbers_and_messages_stay_out_of_the_logs(
    app: Flask, twilio: Twilio, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    body = "He is standing on the bridge by the station"
    response = twilio.post(
        "/twilio/sms",
        {"MessageSid": "SM" + "2" * 32, "From": OFFICER, "To": LINE_NUMBER, "Body": body},
    )
    assert response.status_code == 200
    with pytest.raises(GatewayError, match=re.escape(INVALID_NUMBER)):
        gateway().send_message(INVALID_NUMBER, "Call 999 now")
    logging.getLogger("advice_line.test").warning("could not reach %s", "whatsapp:" + OFFICER)

    written, lines = logged(capsys)
    assert [line["status"] for line in lines if line["logger"] == "advice_line.access"] == [200]
    assert any("Twilio refused the message" in line["message"] for line in lines)
    assert lines[-1]["message"] == "could not reach whatsapp:[number]"
    for secret in (OFFICER, OFFICER.removeprefix("+44"), INVALID_NUMBER, body, "Call 999"):
        assert secret not in written


def test_logs_are_json_in_production_and_text_in_demo(tmp_path: Any) -> None:
    assert settings_from_env(PRODUCTION_ENV, str(tmp_path))["LOG_FORMAT"] == "json"
    assert settings_from_env({"ADVICE_LINE_MODE": "demo"}, str(tmp_path))["LOG_FORMAT"] == "text"
