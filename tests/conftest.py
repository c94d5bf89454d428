"""Fixtures: an app per test on SQLite and (where configured) PostgreSQL, and guards.

PostgreSQL and Redis tests read ``TEST_DATABASE_URL`` and ``TEST_REDIS_URL``. Without
them they skip and say so; with ``REQUIRE_SERVICES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from advice_line import PROJECT_ROOT, create_app
from advice_line.assets import BUILT, MANIFEST, STATIC
from advice_line.extensions import db
from tests.fake_twilio import FakeTwilio
from tests.twilio_support import ACCOUNT, TOKEN, Twilio

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

# Fuzz tests keep one app for all their examples on purpose (state builds up as on a live
# line), so the function-scoped-fixture health check does not apply. "thorough" is for a
# long local run: HYPOTHESIS_PROFILE=thorough.
settings.register_profile(
    "advice_line",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("advice_line"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "advice_line"))


def service_url(variable: str, what: str) -> str:
    """Return the service's URL, or skip (fail under REQUIRE_SERVICES) when unset."""
    url = os.environ.get(variable)
    if url:
        return url
    message = f"{what} tests need {variable}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _only_local_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to reach beyond this machine (Twilio included)."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
                raise RuntimeError(f"test tried to reach {address!r} beyond this machine")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections use a fresh, private schema on the test PostgreSQL."""
    base = service_url("TEST_DATABASE_URL", "PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def drop_roles(*names: str) -> None:
    """Drop test roles with every privilege granted to them (roles span the cluster)."""
    admin = create_engine(service_url("TEST_DATABASE_URL", "PostgreSQL"))
    with admin.begin() as connection:
        for name in names:
            exists = text("SELECT 1 FROM pg_roles WHERE rolname = :name")
            if connection.scalar(exists, {"name": name}):
                connection.execute(text(f'DROP OWNED BY "{name}"'))
                connection.execute(text(f'DROP ROLE "{name}"'))
    admin.dispose()


@pytest.fixture
def app_role() -> Iterator[str]:
    """A unique ``DATABASE_APP_ROLE`` for a test that migrates; dropped afterwards."""
    name = f"t_app_{uuid.uuid4().hex[:12]}"
    yield name
    if os.environ.get("TEST_DATABASE_URL"):
        drop_roles(name)


@pytest.fixture
def redis_url() -> str:
    """The test Redis server's URL."""
    return service_url("TEST_REDIS_URL", "Redis")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Each database-backed test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'advice_line.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 48,
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "production-auth-token",
    "TWILIO_NUMBER": "+441632960001",
    "PUBLIC_BASE_URL": "https://advice-line.example.nhs.uk",
}


def demo_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment a test app is created with (its own spool, never the repository's)."""
    return {
        "ADVICE_LINE_MODE": "demo",
        "DATABASE_URL": database_url,
        "SCHEDULER_IN_PROCESS": "false",
        "SPOOL_PATH": str(Path(tempfile.gettempdir()) / f"spool-{uuid.uuid4().hex}.sqlite3"),
        **extra,
    }


def forget_request_globals() -> None:
    """Empty ``flask.g``, as a new request would find it.

    Tests keep one app context pushed, which each test request and socket event reuses;
    Flask-Login and Flask-WTF cache the user and the CSRF token in ``g``, so without this
    one client's sign-in would leak into the next request.
    """
    if has_app_context():
        for name in list(g):
            g.pop(name)


class FreshClient(FlaskClient):
    """A test client whose every request starts with an empty ``flask.g``."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Send one request."""
        forget_request_globals()
        try:
            return super().open(*args, **kwargs)
        finally:
            forget_request_globals()


def make_app(database_url: str, **extra: str) -> Flask:
    """Create a test app on the database, with the schema created from the models."""
    app = create_app({"TESTING": True, "JOBS_INLINE": True}, env=demo_env(database_url, **extra))
    app.test_client_class = FreshClient
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def app_maker() -> Iterator[Callable[..., Flask]]:
    """Make extra apps (other processes, in effect); their engines are closed afterwards."""
    made: list[Flask] = []

    def maker(database_url: str, **extra: str) -> Flask:
        made.append(make_app(database_url, **extra))
        return made[-1]

    yield maker
    for made_app in made:
        with made_app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app_env() -> dict[str, str]:
    """Extra environment for the test app; telephony tests add Twilio's."""
    return {}


@pytest.fixture
def app(database_url: str, app_env: dict[str, str]) -> Iterator[Flask]:
    """The app, with an application context pushed for the whole test."""
    app = make_app(database_url, **app_env)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def session(app: Flask) -> Session:
    """The request-scoped session of the pushed app context."""
    return db.session()


@pytest.fixture(scope="session")
def fake_twilio_server() -> Iterator[FakeTwilio]:
    """One fake Twilio REST server for the whole run."""
    server = FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_twilio(fake_twilio_server: FakeTwilio) -> FakeTwilio:
    """The fake Twilio, with nothing received yet and no failures queued."""
    fake_twilio_server.reset()
    return fake_twilio_server


@pytest.fixture
def twilio(app: Flask) -> Twilio:
    """Sends signed webhook requests to the app, as Twilio does."""
    return Twilio(app, app.test_client())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_server(database_url: str, **extra: str) -> tuple[subprocess.Popen[str], str]:
    """Serve the app with gunicorn (gevent) on a free port; return (process, base URL)."""
    env = {**os.environ, **demo_env(database_url, **extra)}
    port = _free_port()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            http_get(base + "/healthz")
            break
        except OSError:
            time.sleep(0.2)
    return server, base


def stop_server(server: subprocess.Popen[str]) -> str:
    """Stop a server started by ``start_server``; return what it printed."""
    server.terminate()
    try:
        output, _ = server.communicate(timeout=15)
    except subprocess.TimeoutExpired:  # open websockets hold a graceful shutdown
        server.kill()
        output, _ = server.communicate(timeout=15)
    return output


def migrate_and_seed(database_url: str, **extra: str) -> None:
    """Run the migrations and the demo seed, as ``make run`` does."""
    env = {**os.environ, **demo_env(database_url, **extra)}
    flask = [sys.executable, "-m", "flask", "--app", "advice_line"]
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run(
            [*flask, *command], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True
        )


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Migrate, seed and serve with gunicorn (gevent), as `make run` does: (URL, database)."""
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    extra = {"SCHEDULER_IN_PROCESS": "true", "SCHEDULER_INTERVAL_MS": "100"}
    migrate_and_seed(url, **extra)
    server, base = start_server(url, **extra)
    try:
        yield base, url
    finally:
        output = stop_server(server)
        assert "Traceback" not in output, output


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


NODE_MODULES = PROJECT_ROOT / "node_modules"
#: The accessibility test injects axe-core from node_modules (a dev package, never built).
AXE = Path("axe-core", "axe.min.js")


def missing_front_end(built: Path = BUILT, node_modules: Path = NODE_MODULES) -> list[str]:
    """What browser tests need and lack: the built assets (up to date) and axe-core."""
    missing = [str(path) for path in (built / MANIFEST, node_modules / AXE) if not path.exists()]
    if not missing:
        built_at = (built / MANIFEST).stat().st_mtime
        missing += [
            f"{source} (changed since the assets were built)"
            for source in sorted(STATIC.iterdir())
            if source.stat().st_mtime > built_at
        ]
    return missing


def require_front_end(built: Path = BUILT, node_modules: Path = NODE_MODULES) -> None:
    """Skip (fail under REQUIRE_SERVICES) unless the front-end assets are built and current.

    Without them pages load without their scripts (or old ones), and browser tests would
    wait for elements that never appear until they time out.
    """
    missing = missing_front_end(built, node_modules)
    if not missing:
        return
    message = (
        f"browser tests need the built front-end assets (missing: {', '.join(missing)}): "
        "run make install"
    )
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (skipped, or failed in CI, when absent)."""
    require_front_end()
    if not os.path.exists(CHROMIUM):
        message = f"browser tests need Chromium at {CHROMIUM}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} (REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def static_url(app: Flask, filename: str) -> str:
    """The URL a page names a static file by (its built, content-hashed name)."""
    from flask import url_for

    with app.test_request_context():
        return url_for("static", filename=filename)
