"""``make run``: the whole line at one address, officers' calls apart from browsers.

    python -m advice_line.serve [--port 5000] [--host 127.0.0.1]

Starts two gunicorn services (gevent, one worker each) on free loopback ports and the
nginx front (``advice_line.front``) on ``host:port`` that routes between them:

- **webhooks**: ``/twilio/*`` and ``/healthz``, and the scheduler when Twilio is real;
- **console**: everything else (pages, sign-in, the consoles' Socket.IO), and the
  scheduler when the phone simulator stands in for Twilio (its phones live in the
  memory of the process that serves ``/simulator/``); it runs at a lower CPU priority
  (``nice 10``), so a flood of sign-ins' password checks waits for officers' calls.

Console pushes caused in one service reach consoles on the other through Redis
(``REDIS_URL``, else ``redis://127.0.0.1:6379/0``), on a channel of this port's own. If
Redis does not answer, it says so and runs one service for both routes behind the same
front: everything works, but browsers can again slow officers' calls.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

from advice_line.config import settings_from_env
from advice_line.demo import CONSOLE_CLINICIAN, DEMO_PASSWORD
from advice_line.front import nginx_binary, nginx_config

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
READY_SECONDS = 60.0
#: The console service's CPU priority below the webhooks' (sign-in's password checks are
#: CPU-bound: on a small machine they would otherwise take turns with officers' calls).
CONSOLE_NICENESS = 10


def free_port() -> int:
    """Return a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_answers(url: str) -> bool:
    """Whether the Redis at ``url`` answers a ping within a second."""
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@dataclass
class Service:
    """One gunicorn (``gunicorn.conf.py``: gevent, one worker) on a loopback port."""

    name: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    #: CPU priority (``nice``): browsers' work yields the CPU to officers' calls.
    niceness: int = 0

    def command(self) -> list[str]:
        """The gunicorn command line."""
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        address = f"127.0.0.1:{self.port}"
        config = str(ROOT / "gunicorn.conf.py")  # the container's settings; here on loopback
        command = [gunicorn, "-c", config, "-b", address, "--graceful-timeout", "5", "wsgi:app"]
        return ["nice", "-n", str(self.niceness), *command] if self.niceness else command


def plan(env: Mapping[str, str], port: int) -> tuple[list[Service], str]:
    """Decide the services for ``env``: (services, a line saying what runs and why)."""
    settings = settings_from_env(env, str(ROOT / "instance"))
    scheduler_wanted = settings["SCHEDULER_IN_PROCESS"]
    redis_url = env.get("REDIS_URL") or DEFAULT_REDIS_URL
    common = {
        **env,
        # Behind the front: the client's address is in X-Forwarded-For, one proxy deep.
        "TRUSTED_PROXIES": env.get("TRUSTED_PROXIES", "1"),
    }
    if not redis_answers(redis_url):
        one = Service("app", {**common, "REDIS_URL": ""})
        return [one], (
            f"Redis does not answer at {redis_url}: serving Twilio's webhooks and the "
            "consoles from ONE process, so browsers can slow officers' calls. Start Redis "
            "(redis-server) or set REDIS_URL for separate services."
        )
    common |= {
        "REDIS_URL": redis_url,
        "SOCKETIO_CHANNEL": env.get("SOCKETIO_CHANNEL") or f"advice-line-{port}",
    }
    simulated = bool(settings["TWILIO_SIMULATED"])
    scheduler_with_webhooks = scheduler_wanted and not simulated
    scheduler_with_console = scheduler_wanted and simulated
    webhooks = Service(
        "webhooks", {**common, "SCHEDULER_IN_PROCESS": str(scheduler_with_webhooks).lower()}
    )
    console = Service(
        "console",
        {**common, "SCHEDULER_IN_PROCESS": str(scheduler_with_console).lower()},
        niceness=CONSOLE_NICENESS,
    )
    where = (
        "with the consoles"
        if scheduler_with_console
        else "with the webhooks"
        if scheduler_with_webhooks
        else "elsewhere (SCHEDULER_IN_PROCESS=false: run flask scheduler)"
    )
    return [webhooks, console], (
        f"Twilio's webhooks and /healthz on one gunicorn, the consoles on another "
        f"(pushes through Redis at {redis_url}); the scheduler runs {where}."
    )


class Stack:
    """The services and the front, started together and stopped together."""

    def __init__(
        self,
        env: Mapping[str, str],
        port: int,
        *,
        host: str = "127.0.0.1",
        log: IO[bytes] | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.services, self.summary = plan(env, port)
        self.folder = Path(tempfile.mkdtemp(prefix="advice-line-front-"))
        self.log = log
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def base(self) -> str:
        """The front's address."""
        return f"http://127.0.0.1:{self.port}"

    def service(self, name: str) -> Service:
        """The service called ``name`` (``app`` when there is only one)."""
        return next(s for s in self.services if s.name == name)

    def start(self) -> None:
        """Start every service, wait until each answers, then open the front."""
        for service in self.services:
            self._spawn(service.name, service.command(), service.env)
        for service in self.services:
            self._wait(f"http://127.0.0.1:{service.port}/healthz", service.name)
        webhooks, console = self.services[0], self.services[-1]
        config = self.folder / "nginx.conf"
        config.write_text(
            nginx_config(self.folder, self.port, webhooks.port, console.port, host=self.host)
        )
        front = [nginx_binary(), "-p", str(self.folder), "-c", str(config), "-e", "stderr"]
        self._spawn("front", front, dict(os.environ))
        self._wait(f"{self.base}/healthz", "front")

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own programs
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT if self.log is not None else None,
            start_new_session=True,
        )

    def _wait(self, url: str, name: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.processes[name].returncode}")
            try:
                urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 - loopback
            except urllib.error.HTTPError:
                pass  # answered (503 while the database is down is an answer)
            except OSError:
                time.sleep(0.1)
                continue
            return
        raise RuntimeError(f"{name} did not answer within {READY_SECONDS:.0f} s")

    def watch(self) -> int:
        """Wait until a process exits (or a signal); return its exit code."""
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}", file=sys.stderr)
                    return process.returncode or 1
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the front first, then the services (SIGTERM; SIGKILL after 15 s)."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def where_to_go(env: Mapping[str, str], base: str) -> str:
    """What to open once the line answers, with the demo's sign-ins in demo mode."""
    settings = settings_from_env(env, str(ROOT / "instance"))
    demo = settings["ADVICE_LINE_MODE"] == "demo"

    def login(username: str, note: str = "") -> str:
        return f"  ({username} / {DEMO_PASSWORD}{note})" if demo else ""

    lines = [
        f"Serving on {base}/",
        f"  Console:   {base}/console"
        + login(CONSOLE_CLINICIAN, ": the first officer call is offered to her"),
    ]
    if settings["TWILIO_SIMULATED"]:
        lines.append(
            f"  Simulator: {base}/simulator/  (play the officer and the clinicians' phones)"
        )
    lines += [
        f"  Reports:   {base}/reports/" + login("morgan"),
        f"  Admin:     {base}/admin/" + login("alex"),
    ]
    return "\n".join(lines)


def main() -> int:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args()
    stack = Stack(os.environ, arguments.port, host=arguments.host)
    print(stack.summary, flush=True)

    def interrupted(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        stack.start()
        print(where_to_go(os.environ, f"http://{arguments.host}:{arguments.port}"), flush=True)
        return stack.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
