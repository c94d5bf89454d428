"""Single sign-on against a real OpenID Connect provider (oidc-provider, run by Node).

The provider (tests/oidc/provider.mjs) signs any login name in; its claims derive from
the name: ``oid`` is ``oid-<name>``, ``uid`` is ``uid-<name>``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.auth.sso import acr_shortfall
from advice_line.clock import utcnow
from advice_line.config import ConfigurationError, settings_from_env
from advice_line.demo import seed_demo
from advice_line.models import AuditEvent, User
from tests.conftest import (
    PRODUCTION_ENV,
    REQUIRE_SERVICES,
    migrate_and_seed,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = ROOT / "tests" / "oidc" / "provider.mjs"
CLIENT_ID = "advice-line"
CLIENT_SECRET = "advice-line-test-client-secret-0123456789"
#: Where the test client's app is, as ``url_for(_external=True)`` names it.
APP = "http://localhost"
CALLBACKS = [f"{APP}/auth/oidc/entra/callback", f"{APP}/auth/oidc/cis2/callback"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_provider(port: int, redirect_uris: list[str], **settings: str) -> Iterator[str]:
    """Start the provider on ``port`` for these callbacks; yield its issuer."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "oidc-provider").is_dir():
        message = "single sign-on tests need Node and `make install` (oidc-provider)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} (REQUIRE_SERVICES=1 forbids skipping)")
        pytest.skip(message)
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_REDIRECT_URIS": ",".join(redirect_uris),
        **settings,
    }
    process = subprocess.Popen(
        [node, str(PROVIDER)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(issuer + "/.well-known/openid-configuration", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail(f"the provider did not start: {process.communicate()[0]}")
        time.sleep(0.1)
    try:
        yield issuer
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[str]:
    """A running provider (its settings from the test's parameter); yields its issuer."""
    with running_provider(_free_port(), CALLBACKS, **getattr(request, "param", {})) as issuer:
        yield issuer


def provider_env(issuer: str) -> dict[str, str]:
    """Both providers configured at ``issuer``; password accounts need a code."""
    metadata = issuer + "/.well-known/openid-configuration"
    return {
        "SECOND_FACTOR_REQUIRED": "true",
        **{
            f"OIDC_{name}_{part}": value
            for name in ("ENTRA", "CIS2")
            for part, value in (
                ("METADATA_URL", metadata),
                ("CLIENT_ID", CLIENT_ID),
                ("CLIENT_SECRET", CLIENT_SECRET),
            )
        },
    }


@pytest.fixture
def app_env(provider: str) -> dict[str, str]:
    """Both providers configured at the test's provider; password accounts need a code."""
    return provider_env(provider)


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    amira = session.scalar(select(User).where(User.username == "amira"))
    ben = session.scalar(select(User).where(User.username == "ben"))
    assert amira is not None
    assert ben is not None
    amira.sso_identity, ben.sso_identity = "oid-amira.k", "uid-ben.c"
    session.commit()
    return session


def through_provider(
    client: FlaskClient, login: str, name: str = "entra", *, tamper: Any = None
) -> Any:
    """Sign in at the provider as ``login`` (a browser of its own); return our callback's answer."""
    start = client.get(f"/auth/oidc/{name}/login")
    assert start.status_code == 302, start.get_data(as_text=True)
    url = start.headers["Location"]
    browser = requests.Session()
    response = browser.get(url, allow_redirects=False, timeout=10)
    for _ in range(12):
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if url.startswith(APP):
                break
            response = browser.get(url, allow_redirects=False, timeout=10)
            continue
        page = response.text
        action = re.search(r'action="([^"]+)"', page)
        prompt = re.search(r'name="prompt" value="(\w+)"', page)
        assert action is not None, page
        assert prompt is not None, page
        data = {"prompt": prompt.group(1), "login": login, "password": "any"}
        response = browser.post(urljoin(url, action.group(1)), data=data, allow_redirects=False)
    else:
        pytest.fail("the provider never sent the browser back")
    callback = urlsplit(url)
    query = parse_qs(callback.query)
    if tamper:
        query = tamper(query)
    return client.get(callback.path + "?" + urlencode(query, doseq=True))


def failures(session: Session) -> list[dict[str, Any]]:
    session.expire_all()
    return [
        event.detail
        for event in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed")
        )
    ]


def test_the_sign_in_page_offers_each_configured_provider(app: Flask) -> None:
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "Sign in with Microsoft Entra ID" in page
    assert "Sign in with NHS CIS2 Authentication" in page
    assert app.test_client().get("/auth/oidc/google/login").status_code == 404


@pytest.mark.usefixtures("demo")
def test_a_mapped_user_signs_in_through_the_provider_without_a_code(
    app: Flask, session: Session
) -> None:
    client = app.test_client()
    start = client.get("/auth/oidc/entra/login")
    asked = parse_qs(urlsplit(start.headers["Location"]).query)
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["nonce"]
    assert asked["state"]
    response = through_provider(client, "amira.k")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/console")
    assert client.get("/console").status_code == 200
    session.expire_all()
    assert "auth.signed_in" in session.scalars(select(AuditEvent.action)).all()


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("provider", [{"OIDC_ACR": "AAL3_ANY"}], indirect=True)
def test_cis2_asks_for_an_assurance_level_and_names_the_user_by_uid(app: Flask) -> None:
    client = app.test_client()
    start = client.get("/auth/oidc/cis2/login")
    assert parse_qs(urlsplit(start.headers["Location"]).query)["acr_values"] == ["AAL2_OR_AAL3_ANY"]
    response = through_provider(client, "ben.c", "cis2")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get("/console").status_code == 200


@pytest.mark.usefixtures("demo")
def test_an_unknown_identity_is_refused_and_audited(app: Flask, session: Session) -> None:
    client = app.test_client()
    response = through_provider(client, "stranger")
    assert response.status_code == 403
    assert "no active staff account here is linked to you" in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302
    assert failures(session)[-1]["identity"] == "oid-stranger"


@pytest.mark.usefixtures("demo")
def test_a_deactivated_user_is_refused(app: Flask, session: Session) -> None:
    amira = session.scalar(select(User).where(User.username == "amira"))
    assert amira is not None
    amira.active = False
    session.commit()
    client = app.test_client()
    assert through_provider(client, "amira.k").status_code == 403
    assert client.get("/console").status_code == 302


@pytest.mark.usefixtures("demo")
def test_a_tampered_state_is_refused(app: Flask, session: Session) -> None:
    client = app.test_client()

    def tamper(query: dict[str, list[str]]) -> dict[str, list[str]]:
        return {**query, "state": [query["state"][0][:-2] + "xx"]}

    response = through_provider(client, "amira.k", tamper=tamper)
    assert response.status_code == 400
    assert "not started here" in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302
    assert failures(session)[-1]["reason"] == "state not ours"


@pytest.mark.usefixtures("demo")
def test_a_callback_nobody_started_is_refused(app: Flask) -> None:
    response = app.test_client().get("/auth/oidc/entra/callback?code=x&state=y")
    assert response.status_code == 400


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("provider", [{"OIDC_ID_TOKEN_AUDIENCE": "another-service"}], indirect=True)
def test_an_id_token_for_another_audience_is_refused(app: Flask, session: Session) -> None:
    client = app.test_client()
    response = through_provider(client, "amira.k")
    assert response.status_code == 403
    assert "wrong aud" in response.get_data(as_text=True), re.findall(
        r"sign-in-problem\">([^<]*)", response.get_data(as_text=True)
    )
    assert client.get("/console").status_code == 302
    assert failures(session)[-1]["reason"] == "wrong aud in the ID token"


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize(
    "provider", [{"OIDC_CLOCK_OFFSET_SECONDS": "-1800", "OIDC_ID_TOKEN_TTL": "300"}], indirect=True
)
def test_an_expired_id_token_is_refused(app: Flask, session: Session) -> None:
    client = app.test_client()
    response = through_provider(client, "amira.k")
    assert response.status_code == 403
    assert "expired" in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302
    assert failures(session)[-1]["reason"] == "the ID token has expired"


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("provider", [{"OIDC_ACR": "AAL1_USERPASS"}], indirect=True)
def test_a_weaker_assurance_level_than_asked_for_is_refused_and_audited(
    app: Flask, session: Session
) -> None:
    client = app.test_client()
    response = through_provider(client, "ben.c", "cis2")
    assert response.status_code == 403
    assert "lower assurance level than this service needs" in response.get_data(as_text=True)
    assert client.get("/console").status_code == 302
    assert failures(session)[-1] == {
        "provider": "cis2",
        "reason": "acr AAL1_USERPASS, AAL2_OR_AAL3_ANY was asked for",
    }


@pytest.mark.usefixtures("demo")
def test_an_id_token_without_the_assurance_level_asked_for_is_refused(
    app: Flask, session: Session
) -> None:
    client = app.test_client()
    assert through_provider(client, "ben.c", "cis2").status_code == 403
    assert client.get("/console").status_code == 302
    assert (
        failures(session)[-1]["reason"] == "no acr in the ID token, AAL2_OR_AAL3_ANY was asked for"
    )


@pytest.mark.parametrize(
    ("requested", "returned", "accepted"),
    [
        (None, None, True),
        ("AAL2_OR_AAL3_ANY", "AAL2_OR_AAL3_ANY", True),
        ("AAL2_OR_AAL3_ANY", "AAL3_ANY", True),
        ("AAL2_OR_AAL3_ANY", "AAL2_ANY", True),
        ("AAL3_ANY", "AAL2_ANY", False),
        ("AAL2_OR_AAL3_ANY", "AAL1_USERPASS", False),
        ("AAL2_OR_AAL3_ANY", None, False),
        ("urn:example:mfa", "urn:example:mfa", True),
        ("urn:example:mfa", "urn:example:password", False),
    ],
)
def test_the_assurance_level_returned_must_meet_the_one_asked_for(
    requested: str | None, returned: str | None, accepted: bool
) -> None:
    assert (acr_shortfall(requested, returned) is None) is accepted


def test_an_http_metadata_address_is_refused_in_production(tmp_path: Path) -> None:
    given = {
        "OIDC_CIS2_METADATA_URL": "http://cis2.example/.well-known/openid-configuration",
        "OIDC_CIS2_CLIENT_ID": CLIENT_ID,
        "OIDC_CIS2_CLIENT_SECRET": CLIENT_SECRET,
    }
    with pytest.raises(
        ConfigurationError, match="OIDC_CIS2_METADATA_URL must be an https:// address in production"
    ):
        settings_from_env({**PRODUCTION_ENV, **given}, str(tmp_path))
    https = given | {
        "OIDC_CIS2_METADATA_URL": "https://cis2.example/.well-known/openid-configuration"
    }
    assert "cis2" in settings_from_env({**PRODUCTION_ENV, **https}, str(tmp_path))["OIDC_PROVIDERS"]
    demo = settings_from_env({"ADVICE_LINE_MODE": "demo", **given}, str(tmp_path))
    assert demo["OIDC_PROVIDERS"]["cis2"]["metadata_url"].startswith("http://")


def test_a_provider_half_configured_is_a_configuration_error(tmp_path: Path) -> None:
    env = {"ADVICE_LINE_MODE": "demo", "OIDC_ENTRA_CLIENT_ID": "x"}
    with pytest.raises(ConfigurationError, match="OIDC_ENTRA_METADATA_URL"):
        settings_from_env(env, str(tmp_path))
    assert settings_from_env({"ADVICE_LINE_MODE": "demo"}, str(tmp_path))["OIDC_PROVIDERS"] == {}


# --- in a browser -----------------------------------------------------------------------


@pytest.mark.browser
def test_a_clinician_signs_in_with_single_sign_on_in_a_browser(
    chromium: Any, tmp_path: Path
) -> None:
    """The sign-in page's button, the provider's own login page, and back to the console,
    in Chromium against gunicorn; a stranger comes back to a refusal, signed in nowhere."""
    provider_port = _free_port()
    issuer = f"http://127.0.0.1:{provider_port}"
    url = f"sqlite:///{tmp_path / 'sso.sqlite3'}"
    migrate_and_seed(url)
    with sqlite3.connect(tmp_path / "sso.sqlite3") as database:
        database.execute(
            "UPDATE user_account SET sso_identity = 'oid-amira.k' WHERE username = 'amira'"
        )
    server, base = start_server(url, **provider_env(issuer))
    callbacks = [f"{base}/auth/oidc/entra/callback", f"{base}/auth/oidc/cis2/callback"]
    contexts: list[Any] = []
    try:
        with running_provider(provider_port, callbacks):
            for login, arrives in (("amira.k", "Console"), ("stranger", "Sign in")):
                contexts.append(chromium.new_context())  # a browser of each one's own
                page = contexts[-1].new_page()
                page.set_default_timeout(15_000)
                page.goto(f"{base}/login")
                page.get_by_role("link", name="Sign in with Microsoft Entra ID").click()
                for _step in range(3):  # the provider's login page, then its consent page
                    page.wait_for_load_state()
                    if page.url.startswith(base):
                        break
                    if page.locator("input[name=login]").count():
                        page.locator("input[name=login]").fill(login)
                        page.locator("input[name=password]").fill("any")
                    page.locator("button[type=submit]").first.click()
                page.get_by_role("heading", name=arrives).wait_for()
                assert page.url.startswith(base)
            assert "no active staff account here is linked to you" in page.content()
            assert page.goto(f"{base}/console").url.startswith(f"{base}/login")
    finally:
        for context in contexts:
            context.close()
        output = stop_server(server)
        assert "Traceback" not in output, output
