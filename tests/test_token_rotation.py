"""Rotating the Twilio auth token: webhooks signed with the previous token still pass."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from advice_line.config import ConfigurationError, settings_from_env
from advice_line.telephony.gateway import gateway
from tests.conftest import PRODUCTION_ENV
from tests.fake_twilio import FakeTwilio
from tests.test_metrics import scrape
from tests.twilio_support import PUBLIC, TOKEN, twilio_env

PREVIOUS = "previous-auth-token-fedcba9876543210"
STRANGER = "someone-elses-token-0000000000000000"
COUNTER = "advice_line_webhooks_signed_with_previous_token_total"
STATUS = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed"}


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    """The app during a rotation: Twilio's new primary token, and the one before it."""
    return twilio_env(fake_twilio.base_url) | {"TWILIO_AUTH_TOKEN_PREVIOUS": PREVIOUS}


def post_signed(app: Flask, token: str) -> TestResponse:
    """A call-status webhook signed as Twilio would sign it with ``token``."""
    path = "/twilio/voice/status"
    signature = RequestValidator(token).compute_signature(PUBLIC + path, STATUS)
    return app.test_client().post(path, data=STATUS, headers={"X-Twilio-Signature": signature})


def test_webhooks_signed_with_either_token_pass_and_the_previous_is_counted(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    assert post_signed(app, TOKEN).status_code == 204
    assert scrape(app)[COUNTER] == 0

    with caplog.at_level(logging.INFO, logger="advice_line.telephony.webhooks"):
        assert post_signed(app, PREVIOUS).status_code == 204
        assert post_signed(app, PREVIOUS).status_code == 204
    assert scrape(app)[COUNTER] == 2
    assert "signed with the previous auth token" in caplog.text

    assert post_signed(app, STRANGER).status_code == 403
    assert scrape(app)[COUNTER] == 2


def test_outbound_requests_use_the_current_token(app: Flask, fake_twilio: FakeTwilio) -> None:
    gateway().send_message("+447700900123", "The clinician will call you back")
    assert [message.form["Body"] for message in fake_twilio.messages()] == [
        "The clinician will call you back"
    ]


def test_without_a_previous_token_only_the_current_one_passes(
    fake_twilio: FakeTwilio, database_url: str, app_maker: Callable[..., Flask]
) -> None:
    app = app_maker(database_url, **twilio_env(fake_twilio.base_url))
    with app.app_context():
        assert post_signed(app, PREVIOUS).status_code == 403
        assert post_signed(app, TOKEN).status_code == 204
        assert scrape(app)[COUNTER] == 0


def test_production_refuses_a_previous_token_equal_to_the_current(tmp_path: Path) -> None:
    same = PRODUCTION_ENV | {"TWILIO_AUTH_TOKEN_PREVIOUS": PRODUCTION_ENV["TWILIO_AUTH_TOKEN"]}
    with pytest.raises(ConfigurationError, match="must differ from TWILIO_AUTH_TOKEN"):
        settings_from_env(same, str(tmp_path))

    rotating = settings_from_env(
        PRODUCTION_ENV | {"TWILIO_AUTH_TOKEN_PREVIOUS": PREVIOUS}, str(tmp_path)
    )
    assert rotating["TWILIO_AUTH_TOKEN_PREVIOUS"] == PREVIOUS
    assert settings_from_env(PRODUCTION_ENV, str(tmp_path))["TWILIO_AUTH_TOKEN_PREVIOUS"] is None
