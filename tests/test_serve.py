"""``make run``'s services: one address, Twilio's webhooks on a process browsers never reach."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from advice_line.config import DEMO_TWILIO
from advice_line.demo import DEMO_PASSWORD
from advice_line.front import nginx_config
from advice_line.serve import Stack, free_port, plan
from drills.harness import QueueWatch, signed_in_cookie
from tests.conftest import demo_env, migrate_and_seed

pytestmark = pytest.mark.slow
DEMO_PUBLIC = "http://127.0.0.1:5000"  # PUBLIC_BASE_URL in demo mode: what signatures cover


@contextmanager
def served(tmp_path: Path, **extra: str) -> Iterator[Stack]:
    """Migrate, seed and serve as ``make run`` does (the simulator stands in for Twilio)."""
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    env = {**demo_env(url, SCHEDULER_IN_PROCESS="true", **extra)}
    migrate_and_seed(url, **extra)
    log = (tmp_path / "services.log").open("ab")
    stack = Stack({**os.environ, **env}, free_port(), log=log)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        log.close()
        text = (tmp_path / "services.log").read_text(errors="replace")
        assert "Traceback" not in text, text


def text_the_line(base: str, body: str) -> str:
    """POST a signed SMS webhook to the front; return the reference the reply names."""
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": DEMO_TWILIO["TWILIO_ACCOUNT_SID"],
        "From": "+447700900202",
        "To": DEMO_TWILIO["TWILIO_NUMBER"],
        "Body": body,
    }
    validator = RequestValidator(DEMO_TWILIO["TWILIO_AUTH_TOKEN"])
    answer = requests.post(
        f"{base}/twilio/sms",
        data=params,
        headers={
            "X-Twilio-Signature": validator.compute_signature(DEMO_PUBLIC + "/twilio/sms", params)
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found = re.search(r"AL-\d+", answer.text)
    assert found is not None, answer.text
    return found.group(0)


def webhooks_answered(port: int) -> bool:
    """Whether the service on ``port`` has answered an incoming-message webhook."""
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return 'endpoint="twilio.incoming_message"' in metrics


@pytest.mark.redis
def test_one_address_serves_pages_and_webhooks_from_separate_processes_with_live_pushes(
    tmp_path: Path, redis_url: str
) -> None:
    with served(tmp_path, REDIS_URL=redis_url) as stack:
        assert [s.name for s in stack.services] == ["webhooks", "console"]
        for path, expected in (
            ("/", 200),
            ("/healthz", 200),
            ("/simulator/", 200),
            ("/login", 200),
        ):
            assert requests.get(stack.base + path, timeout=10).status_code == expected, path
        assert (
            requests.get(stack.base + "/socket.io/?EIO=4&transport=polling", timeout=10).status_code
            == 401
        )

        console = QueueWatch()
        console.connect(stack.base, signed_in_cookie(stack.base, "amira", DEMO_PASSWORD))
        try:
            reference = text_the_line(stack.base, "Man on the bridge, distressed")
            assert reference in console.references_when_pushed()
        finally:
            console.client.disconnect()
        assert webhooks_answered(stack.service("webhooks").port)
        assert not webhooks_answered(stack.service("console").port)


def test_without_redis_it_says_so_and_serves_everything_from_one_process(tmp_path: Path) -> None:
    with served(tmp_path, REDIS_URL="redis://127.0.0.1:9/0") as stack:
        assert [s.name for s in stack.services] == ["app"]
        assert "Redis does not answer at redis://127.0.0.1:9/0" in stack.summary
        assert "ONE process" in stack.summary
        assert requests.get(stack.base + "/healthz", timeout=10).json()["status"] == "ok"
        assert text_the_line(stack.base, "Woman on the platform edge").startswith("AL-")
        assert requests.get(stack.base + "/simulator/", timeout=10).status_code == 200


def test_the_scheduler_runs_where_the_phones_are() -> None:
    simulated = {"ADVICE_LINE_MODE": "demo", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    real = {
        **simulated,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "token",
        "TWILIO_NUMBER": "+441632960001",
    }
    for env, with_scheduler in ((simulated, "console"), (real, "webhooks")):
        services, _ = plan(env, 5000)
        if len(services) == 1:
            pytest.skip("no Redis on 127.0.0.1:6379")
        running = [s.name for s in services if s.env["SCHEDULER_IN_PROCESS"] == "true"]
        assert running == [with_scheduler]
        assert {s.env["SOCKETIO_CHANNEL"] for s in services} == {"advice-line-5000"}
    off, summary = plan({**real, "SCHEDULER_IN_PROCESS": "false"}, 5000)
    assert [s.env["SCHEDULER_IN_PROCESS"] for s in off] == ["false", "false"]
    assert "run flask scheduler" in summary


def test_the_front_routes_twilio_and_health_to_the_webhooks_and_caps_the_rest() -> None:
    config = nginx_config(Path("/run/front"), 5000, 7001, 7002, per_address=40)
    assert "listen 127.0.0.1:5000;" in config
    assert "upstream webhooks { server 127.0.0.1:7001; }" in config
    assert "upstream console { server 127.0.0.1:7002; }" in config
    twilio = config.index("location /twilio/")
    assert "proxy_pass http://webhooks;" in config[twilio : config.index("}", twilio)]
    catch_all = config.index("location / {")
    assert "limit_conn per_address 40;" in config[catch_all : config.index("}", catch_all)]
    assert "proxy_pass http://console;" in config[catch_all : config.index("}", catch_all)]
