"""What the drills share: a gunicorn app to kill, Twilio's signed requests, private services."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import IO

import requests
import socketio
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "drill-auth-token"  # noqa: S105 - drill servers only
ACCOUNT = "AC" + "d" * 32
PUBLIC = "https://line.example.test"
LINE_NUMBER = "+441632960999"
FALLBACK = "+441632960500"
SHARED_POSTGRES = os.environ.get(
    "DRILL_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    """Return a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def app_env(database_url: str, twilio_api: str, **extra: str) -> dict[str, str]:
    """Return a drilled app's environment: demo mode, Twilio settings, the fake's URL."""
    return {
        **os.environ,
        "ADVICE_LINE_MODE": "demo",
        "DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_NUMBER": LINE_NUMBER,
        "PUBLIC_BASE_URL": PUBLIC,
        "TWILIO_API_BASE_URL": twilio_api,
        "FALLBACK_NUMBER": FALLBACK,
        **_ROLES.get(database_url, {}),
        # Each drilled app keeps its own spool, never the repository's instance folder.
        "SPOOL_PATH": str(Path(tempfile.mkdtemp(prefix="drill-spool-")) / "spool.sqlite3"),
        **extra,
    }


def migrate_and_seed(env: dict[str, str]) -> None:
    """Run the migrations and the demo seed, as ``make run`` does."""
    flask = [sys.executable, "-m", "flask", "--app", "advice_line"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run([*flask, *command], cwd=ROOT, env=env, check=True, capture_output=True)


@dataclass
class AppServer:
    """``gunicorn -k gevent -w 1 wsgi:app`` in its own process group, logging to a file."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        """The server's loopback address."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        """Start serving on the same port as before and wait until it answers."""
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [gunicorn, "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.base + "/healthz", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"the app did not start; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the master and its worker at once: no shutdown code runs."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), or kill after 15 s."""
        if self.process is None or self.process.poll() is not None:
            self._close_log()
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        """Return everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def rss_mib(self) -> float:
        """Return the resident memory (MiB) of the master and its workers."""
        assert self.process is not None
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        total = 0
        for pid in [str(self.process.pid), *children]:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            found = re.search(r"VmRSS:\s+(\d+) kB", status)
            total += int(found.group(1)) if found else 0
        return total / 1024


def signed_post(
    base: str, path: str, params: dict[str, str], timeout: float = 10
) -> requests.Response:
    """POST what Twilio would, signed for the public address of ``path``."""
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    return requests.post(
        base + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=timeout
    )


def new_sid(prefix: str) -> str:
    """Return a new Twilio-shaped SID starting with ``prefix``."""
    return prefix + uuid.uuid4().hex


#: What a drilled app needs besides ``DATABASE_URL`` on a schema ``postgres_schema`` made:
#: the owner's URL (migrations) and the app's role.
_ROLES: dict[str, dict[str, str]] = {}


@contextmanager
def postgres_schema(base_url: str = SHARED_POSTGRES) -> Iterator[str]:
    """Yield the URL of a login in the app's role, on a fresh private schema of its own owner.

    The roles are made as the README's "Database roles" says, so the drilled app runs as a
    role that owns nothing; schema and roles (shared by the whole server, so uniquely
    named) are dropped afterwards.
    """
    admin = create_engine(base_url)
    suffix = uuid.uuid4().hex[:10]
    schema = f"drill_{suffix}"
    owner, app_role, login = (f"drill_{suffix}_{kind}" for kind in ("own", "app", "web"))
    password = uuid.uuid4().hex
    with admin.begin() as connection:
        connection.execute(text(f"CREATE ROLE {owner} LOGIN PASSWORD '{password}'"))
        connection.execute(text(f"CREATE ROLE {app_role} NOLOGIN"))
        connection.execute(
            text(f"CREATE ROLE {login} LOGIN PASSWORD '{password}' IN ROLE {app_role}")
        )
        connection.execute(text(f'CREATE SCHEMA "{schema}" AUTHORIZATION {owner}'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    app_url = url.set(username=login, password=password).render_as_string(hide_password=False)
    _ROLES[app_url] = {
        "OWNER_DATABASE_URL": url.set(username=owner, password=password).render_as_string(
            hide_password=False
        ),
        "DATABASE_APP_ROLE": app_role,
    }
    try:
        yield app_url
    finally:
        _ROLES.pop(app_url, None)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            connection.execute(text(f"DROP OWNED BY {login}, {app_role}, {owner}"))
            for role in (login, app_role, owner):
                connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


@dataclass
class PrivateRedis:
    """A redis-server of our own on a free port, to kill and bring back."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port and wait until it accepts connections."""
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def kill(self) -> None:
        """SIGKILL the server."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


def wait_for_port(port: int, timeout: float = 30) -> None:
    """Wait until something accepts connections on the loopback port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class PrivatePostgres:
    """A PostgreSQL cluster of our own (``initdb`` as the postgres user), to stop and start."""

    def __init__(self) -> None:
        bins = sorted(glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        self.bin = Path(bins[-1])
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="drill-pg-"))
        shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self._as_postgres("initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data))
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, program: str, *arguments: str, check: bool = True) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / program), *arguments],
            check=check,
            capture_output=True,
            cwd=self.folder,
        )

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "log")
        self._as_postgres("pg_ctl", "-w", "-o", options, "-l", log, "-D", str(self.data), "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the cluster (``immediate``: as a crash would, connections cut)."""
        self._as_postgres("pg_ctl", "-w", "-m", mode, "-D", str(self.data), "stop")

    def remove(self) -> None:
        """Stop if running and delete the cluster."""
        self._as_postgres("pg_ctl", "-m", "immediate", "-D", str(self.data), "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


class TcpProxy:
    """A loopback TCP proxy we can cut (refuse and reset every connection) and restore."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        """Accept connections and relay them to the target."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and reset every relayed connection, as a crashed server would."""
        assert self._listener is not None
        with suppress(OSError):  # wakes the thread blocked in accept() (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        with self._lock:
            for sock in self._open:
                _hang_up(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with self._lock:
                self._open.discard(sock)
            _hang_up(sock)


def _hang_up(sock: socket.socket) -> None:
    """Close for real: shutdown() also wakes a thread blocked reading the socket (Linux)."""
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class Findings:
    """A drill's figures and checks, printed as one table; any failed check fails the drill."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def figure(self, name: str, value: str) -> None:
        """Record a measured figure."""
        self.rows.append((name, value))

    def check(self, name: str, passed: bool, detail: str) -> None:
        """Record a check and whether it passed."""
        self.rows.append((name, ("ok: " if passed else "FAILED: ") + detail))
        if not passed:
            self.failures.append(f"{name}: {detail}")


def signed_in_cookie(base: str, username: str, password: str, timeout: float = 10) -> str:
    """Sign in over HTTP as a browser would; return the Cookie header."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=timeout).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None, "no CSRF token on the sign-in page"
    browser.post(
        f"{base}/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=timeout,
    )
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


@dataclass
class QueueWatch:
    """A clinician's console over Socket.IO, keeping every queue it is pushed."""

    client: socketio.Client = field(default_factory=lambda: socketio.Client(reconnection=False))
    queues: list[list[dict[str, object]]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client.on("queue", self._queue)

    def _queue(self, data: list[dict[str, object]]) -> None:
        self.queues.append(data)
        if data:
            self.arrived.set()

    def connect(self, base: str, cookie: str) -> None:
        """Open the console's socket (websocket only) with a signed-in session's cookie."""
        self.client.connect(
            base, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10
        )

    def references_when_pushed(self, timeout: float = 10) -> list[object]:
        """Wait for a queue with requests in it; return their references (AL-n)."""
        assert self.arrived.wait(timeout), f"no queue update reached the console: {self.queues}"
        return [request["reference"] for request in self.queues[-1]]
