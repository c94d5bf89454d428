"""Two app processes, one PostgreSQL, one Redis: an event on one reaches consoles on the other."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from advice_line.demo import DEMO_PASSWORD
from drills.harness import QueueWatch, signed_in_cookie
from tests.conftest import migrate_and_seed, start_server, stop_server
from tests.twilio_support import ACCOUNT, LINE_NUMBER, PUBLIC, signature, twilio_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_request_arriving_on_one_process_reaches_a_console_on_the_other(
    postgres_url: str, redis_url: str
) -> None:
    extra = {**twilio_env("http://127.0.0.1:9"), "REDIS_URL": redis_url}
    migrate_and_seed(postgres_url, **extra)
    first, first_url = start_server(postgres_url, **extra)
    second, second_url = start_server(postgres_url, **extra)
    console = QueueWatch()
    try:
        console.connect(second_url, signed_in_cookie(second_url, "amira", DEMO_PASSWORD))
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": ACCOUNT,
            "From": "+447700900202",
            "To": LINE_NUMBER,
            "Body": "Woman on the platform edge, very distressed",
        }
        response = requests.post(
            f"{first_url}/twilio/sms",
            data=params,
            headers={"X-Twilio-Signature": signature(PUBLIC + "/twilio/sms", params)},
            timeout=10,
        )
        assert response.status_code == 200
        reference = re.search(r"AL-\d+", response.text)
        assert reference is not None
        assert console.references_when_pushed() == [reference.group(0)]
    finally:
        console.client.disconnect()
        outputs = [stop_server(first), stop_server(second)]
    for output in outputs:
        assert "Traceback" not in output, output
