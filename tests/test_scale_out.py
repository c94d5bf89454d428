"""Two app processes, one PostgreSQL, one Redis: an event on one reaches consoles on the other."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import requests
import socketio

from advice_line.demo import DEMO_PASSWORD
from tests.conftest import migrate_and_seed, start_server, stop_server
from tests.twilio_support import ACCOUNT, LINE_NUMBER, PUBLIC, signature, twilio_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def signed_in_cookie(base: str, username: str) -> str:
    """Sign in over HTTP and return the session cookie header."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    response = browser.post(
        f"{base}/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


def test_a_request_arriving_on_one_process_reaches_a_console_on_the_other(
    postgres_url: str, redis_url: str
) -> None:
    extra = {**twilio_env("http://127.0.0.1:9"), "REDIS_URL": redis_url}
    migrate_and_seed(postgres_url, **extra)
    first, first_url = start_server(postgres_url, **extra)
    second, second_url = start_server(postgres_url, **extra)
    console = socketio.Client(reconnection=False)
    queues: list[list[dict[str, object]]] = []
    arrived = threading.Event()

    @console.on("queue")
    def on_queue(data: list[dict[str, object]]) -> None:
        queues.append(data)
        if data:
            arrived.set()

    try:
        console.connect(
            second_url,
            headers={"Cookie": signed_in_cookie(second_url, "amira")},
            transports=["websocket"],
            wait_timeout=10,
        )
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
        assert arrived.wait(10), f"no queue update reached the other process: {queues}"
        assert [r["reference"] for r in queues[-1]] == [reference.group(0)]
    finally:
        console.disconnect()
        outputs = [stop_server(first), stop_server(second)]
    for output in outputs:
        assert "Traceback" not in output, output
