"""The container deployment's topology, run as processes: proxy, webhooks, two consoles.

``compose.yaml`` runs ``deploy/haproxy.cfg`` in front of a webhook gunicorn, two console
gunicorns and ``flask scheduler`` (all with ``gunicorn.conf.py``), on PostgreSQL and
Redis. These tests start the same processes, with the same files, on this machine (no
container engine here): a call through the proxy reaches a console pinned to the other
web process, and every request leaves one JSON access line with the client's address.
"""

from __future__ import annotations

import gc
import http.client
import json
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
import yaml

from advice_line import PROJECT_ROOT
from advice_line.demo import DEMO_PASSWORD
from tests.conftest import REQUIRE_SERVICES, _free_port, demo_env, migrate_and_seed
from tests.fake_twilio import FakeTwilio
from tests.twilio_support import ACCOUNT, LINE_NUMBER, PUBLIC, gather_action, signature, twilio_env

pytestmark = pytest.mark.slow
HAPROXY_CONFIG = PROJECT_ROOT / "deploy" / "haproxy.cfg"
GUNICORN_CONFIG = PROJECT_ROOT / "gunicorn.conf.py"
OFFICER = "+447700900201"  # PC Jo Smith in the demo data
READY_SECONDS = 40.0


@dataclass
class Process:
    """A started program and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """Its JSON log lines."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def access_lines(self) -> list[dict[str, Any]]:
        """Its access lines."""
        return [line for line in self.lines() if "access" in line["logger"]]


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], folder: Path) -> Iterator[Process]:
    """Run ``command`` in its own process group; stop it (SIGTERM, then SIGKILL) after."""
    log = folder / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Process(name, process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def gunicorn(port: int) -> list[str]:
    """The web process's command line, as the Dockerfile's but on a loopback port."""
    binary = str(Path(sys.executable).with_name("gunicorn"))
    return [binary, "-c", str(GUNICORN_CONFIG), "-b", f"127.0.0.1:{port}", "wsgi:app"]


def wait_until_answered(url: str, process: Process, headers: dict[str, str] | None = None) -> None:
    """Wait until ``url`` answers 200 (the process must not exit meanwhile)."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            pytest.fail(f"{process.name} exited: {process.log.read_text(errors='replace')}")
        try:
            request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
            with urllib.request.urlopen(request, timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {READY_SECONDS:.0f} s")


def require_haproxy() -> str:
    """The haproxy binary, or skip (fail under REQUIRE_SERVICES) without it."""
    found = shutil.which("haproxy")
    if found:
        return found
    message = "the topology test needs haproxy (apt-get install haproxy; .ci/run installs it)"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


def call_the_line(base: str) -> str:
    """A known officer calls through the proxy and answers the questions; return the reference."""
    sid = "CA" + uuid.uuid4().hex
    path, params = "/twilio/voice", {"CallSid": sid, "From": OFFICER, "To": LINE_NUMBER}
    answers = [{"Digits": "2"}, {"SpeechResult": "no, an adult"}, {"Digits": "2"}, None]
    for answer in answers:
        params |= {"AccountSid": ACCOUNT}
        response = requests.post(
            base + path,
            data=params,
            headers={"X-Twilio-Signature": signature(PUBLIC + path, params)},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        document = ET.fromstring(response.text)  # noqa: S314 - our own TwiML
        if answer is None:
            conference = document.find("Dial/Conference")
            assert conference is not None, response.text
            return str(conference.text)
        path = gather_action(document).removeprefix(PUBLIC)
        params = {"CallSid": sid, "Digits": "", **answer}
    raise AssertionError("unreachable")


def sign_in(base: str, username: str, pinned: str) -> requests.Session:
    """Sign in through the proxy as a browser whose sticky cookie names ``pinned``."""
    browser = requests.Session()
    host = base.removeprefix("http://").split(":")[0]
    browser.cookies.set("SERVERID", pinned, domain=host, path="/")
    page = browser.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None, page
    response = browser.post(
        f"{base}/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text
    return browser


@pytest.mark.postgres
@pytest.mark.redis
def test_a_call_through_the_proxy_reaches_a_console_pinned_to_the_other_web_process(
    postgres_url: str, redis_url: str, fake_twilio: FakeTwilio, tmp_path: Path
) -> None:
    haproxy = require_haproxy()
    env = demo_env(
        postgres_url,
        **twilio_env(fake_twilio.base_url),
        REDIS_URL=redis_url,
        SOCKETIO_CHANNEL=f"topology-{uuid.uuid4().hex}",
        TRUSTED_PROXIES="1",
        LOG_FORMAT="json",
        SCHEDULER_IN_PROCESS="false",
        SCHEDULER_INTERVAL_MS="200",
    )
    migrate_and_seed(postgres_url, **env)
    ports = {name: _free_port() for name in ("proxy", "webhooks", "console-a", "console-b")}
    base = f"http://127.0.0.1:{ports['proxy']}"
    proxy_env = {
        "PROXY_BIND": f"127.0.0.1:{ports['proxy']}",
        "WEBHOOKS": f"127.0.0.1:{ports['webhooks']}",
        "CONSOLE_A": f"127.0.0.1:{ports['console-a']}",
        "CONSOLE_B": f"127.0.0.1:{ports['console-b']}",
    }
    with ExitStack() as stack:
        web = {
            name: stack.enter_context(running(name, gunicorn(ports[name]), env, tmp_path))
            for name in ("webhooks", "console-a", "console-b")
        }
        flask = [sys.executable, "-m", "flask", "--app", "advice_line", "scheduler"]
        scheduler = stack.enter_context(running("scheduler", flask, env, tmp_path))
        for name, process in web.items():
            wait_until_answered(f"http://127.0.0.1:{ports[name]}/healthz", process)
        command = [haproxy, "-db", "-f", str(HAPROXY_CONFIG)]
        proxy = stack.enter_context(running("proxy", command, proxy_env, tmp_path))
        for pinned in ("console-a", "console-b"):  # both consoles in service behind it
            wait_until_answered(f"{base}/login", proxy, {"Cookie": f"SERVERID={pinned}"})

        # A browser with no cookie yet is given one naming the console process it reached.
        first = requests.get(f"{base}/login", timeout=10)
        assert first.cookies.get("SERVERID") in ("console-a", "console-b")

        # The client's address reaches the app from X-Forwarded-For, which the proxy sets
        # (a forged one is replaced); the query string never reaches a log.
        direct = http.client.HTTPConnection(
            "127.0.0.1", ports["proxy"], timeout=10, source_address=("127.0.0.9", 0)
        )
        direct.request(
            "GET",
            "/login?token=do-not-log-me",
            headers={"X-Forwarded-For": "203.0.113.66", "X-Request-Id": "topology-xff"},
        )
        assert direct.getresponse().status == 200
        direct.close()

        # amira signs in and opens her console through the proxy, pinned to console B:
        # engine.io's long-polling first, then the upgrade to a websocket.
        browser = sign_in(base, "amira", "console-b")
        console = socketio.Client(reconnection=False, http_session=browser)
        queues: list[list[dict[str, object]]] = []
        arrived = threading.Event()

        @console.on("queue")
        def on_queue(data: list[dict[str, object]]) -> None:
            queues.append(data)
            arrived.set()

        console.connect(base, transports=["polling", "websocket"], wait_timeout=10)
        try:
            deadline = time.monotonic() + 10
            while console.transport() != "websocket" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert console.transport() == "websocket", "the upgrade did not reach the same process"

            # An officer rings the line: Twilio's webhooks go through the proxy to the
            # webhook process, and the queue update crosses to console B through Redis.
            reference = call_the_line(base)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                reference in [r["reference"] for r in queue] for queue in queues
            ):
                arrived.wait(0.5)
            assert any(reference in [r["reference"] for r in queue] for queue in queues), queues
        finally:
            console.disconnect()
        # HAProxy logs a websocket when it closes, and a proxy being stopped drops the
        # streams it still holds unlogged: wait for the line while the proxy still runs.
        upgraded = re.compile(r"consoles/console-b 101 .* GET /socket\.io/")
        deadline = time.monotonic() + 15
        while not upgraded.search(proxy.log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scheduler.process.poll() is None, scheduler.log.read_text(errors="replace")
    processes = [*web.values(), scheduler, proxy]
    for process in processes:
        assert "Traceback" not in process.log.read_text(errors="replace"), process.name

    def paths(name: str) -> list[str]:
        return [line["path"] for line in web[name].access_lines()]

    # Twilio's webhooks were served by the webhook process, never by a console.
    assert "/twilio/voice" in paths("webhooks")
    assert not any(p.startswith("/twilio/") for p in paths("console-a") + paths("console-b"))
    # amira's sign-in, long-polling and websocket all reached console B, none console A:
    # the proxy's log names the server of each request, the upgrade (101) included.
    assert "/login" in paths("console-b")
    assert "/socket.io/" in paths("console-b")
    assert "/socket.io/" not in paths("console-a")
    routed = proxy.log.read_text()
    assert upgraded.search(routed), routed
    assert not re.search(r"consoles/console-a .* /socket\.io/", routed), routed

    # One access line for the forged-address request, in JSON, with the proxied client.
    forged = [
        line
        for process in web.values()
        for line in process.access_lines()
        if line["request_id"] == "topology-xff"
    ]
    assert len(forged) == 1, forged
    assert forged[0]["remote_addr"] == "127.0.0.9"
    assert (forged[0]["method"], forged[0]["path"], forged[0]["status"]) == ("GET", "/login", 200)
    assert forged[0]["duration_ms"] >= 0
    for process in processes:
        assert "do-not-log-me" not in process.log.read_text(errors="replace"), process.name


def test_gunicorn_writes_one_json_access_line_a_request_without_its_query_string(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'access.sqlite3'}"
    env = demo_env(url, LOG_FORMAT="json", TRUSTED_PROXIES="1")
    port = _free_port()
    with running("web", gunicorn(port), env, tmp_path) as web:
        wait_until_answered(f"http://127.0.0.1:{port}/", web)
        answer = requests.get(
            f"http://127.0.0.1:{port}/no-such-page?token=do-not-log-me",
            headers={"X-Forwarded-For": "198.51.100.7", "X-Request-Id": "access-1"},
            timeout=10,
        )
        assert answer.status_code == 404
    lines = [line for line in web.access_lines() if line["request_id"] == "access-1"]
    assert len(lines) == 1, web.log.read_text()
    line = lines[0]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/no-such-page", 404)
    assert line["remote_addr"] == "198.51.100.7"  # one trusted hop: the app's ProxyFix
    assert line["duration_ms"] >= 0
    assert line["time"].endswith("+00:00")
    assert "do-not-log-me" not in web.log.read_text()


def test_compose_runs_the_proxy_file_the_topology_test_runs() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    services = compose["services"]
    proxy = services["proxy"]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in proxy["volumes"]
    for variable in ("PROXY_BIND", "WEBHOOKS", "CONSOLE_A", "CONSOLE_B"):
        assert "${" + variable + "}" in HAPROXY_CONFIG.read_text()
        host = proxy["environment"][variable].split(":")[0]
        assert not host or host in services, variable
    # Only the release step is the tables' owner; the web processes sit behind one proxy.
    owners = [n for n, s in services.items() if "OWNER_DATABASE_URL" in s.get("environment", {})]
    assert owners == ["migrate"]
    for name in ("webhooks", "console-a", "console-b", "scheduler"):
        environment = services[name]["environment"]
        assert environment["TRUSTED_PROXIES"] == "1"
        assert environment["SCHEDULER_IN_PROCESS"] == "false"
    assert services["scheduler"]["command"] == ["flask", "scheduler"]


def test_the_worker_freezes_what_start_up_made_so_full_collections_skip_it() -> None:
    """gunicorn calls ``post_worker_init`` once the worker has loaded the app."""
    hooks = runpy.run_path(str(GUNICORN_CONFIG))
    gc.unfreeze()
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
