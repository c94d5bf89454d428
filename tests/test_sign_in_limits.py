"""Sign-in limits that cannot be bypassed by spelling and cannot lock a clinician out.

Issue 12 found ``ben\\x01`` with the right password signing in while ``ben`` was held,
and, behind a proxy with no ProxyFix, ten bad tries a minute holding every clinician.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from advice_line.clock import utcnow
from advice_line.config import ConfigurationError
from advice_line.demo import DEMO_PASSWORD, seed_demo
from tests.test_console import csrf

PROXY = "10.0.0.2"
#: "amira" in full-width letters, which NFKC folds to plain ones.
FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "amira")
GUESS = "a guess"


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def attempt(
    client: FlaskClient,
    username: str,
    password: str = GUESS,
    *,
    address: str = "192.0.2.1",
    forwarded: str | None = None,
) -> int:
    """One sign-in from ``address`` (through the proxy, forwarded for ``forwarded``)."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf(client)},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )
    return response.status_code


@pytest.mark.parametrize("spelling", ["amira\x01", " Amira ", "\x00AMIRA", FULL_WIDTH])
def test_another_spelling_of_a_held_username_is_held_too(
    app: Flask, demo: Session, spelling: str
) -> None:
    client = app.test_client()
    assert [attempt(client, "amira") for _ in range(10)] == [400] * 10
    assert attempt(client, spelling, DEMO_PASSWORD) == 429, "the lookup's name is the limit's"
    assert client.get("/console").status_code == 302, "not signed in"


@pytest.mark.parametrize("spelling", ["amira\x01", " Amira ", FULL_WIDTH])
def test_each_spelling_counts_against_the_one_username(
    app: Flask, demo: Session, spelling: str
) -> None:
    client = app.test_client()
    assert [attempt(client, spelling) for _ in range(10)] == [400] * 10
    assert attempt(client, "amira", DEMO_PASSWORD) == 429


def test_a_spelling_the_lookup_cleans_signs_in_as_that_user(app: Flask, demo: Session) -> None:
    client = app.test_client()
    assert attempt(client, " Amira\x01", DEMO_PASSWORD) == 302
    assert client.get("/console").status_code == 200


def test_a_held_username_still_signs_in_from_an_address_that_has_not_failed(
    app: Flask, demo: Session
) -> None:
    attacker, clinician = app.test_client(), app.test_client()
    assert [attempt(attacker, "amira", address="203.0.113.9") for _ in range(10)] == [400] * 10
    assert attempt(attacker, "amira", DEMO_PASSWORD, address="203.0.113.9") == 429
    assert attempt(clinician, "amira", DEMO_PASSWORD, address="198.51.100.7") == 302
    assert clinician.get("/console").status_code == 200


def test_one_address_trying_many_usernames_is_held_whatever_the_username(
    app: Flask, demo: Session
) -> None:
    assert app.config["LOGIN_ADDRESS_RATE_LIMIT"] == "30 per minute", "on by default"
    client = app.test_client()
    codes = [attempt(client, f"nobody-{n}", address="203.0.113.9") for n in range(30)]
    assert codes == [400] * 30, "each username only once: the per-username limit never trips"
    response = client.post(
        "/login",
        data={"username": "amira", "password": DEMO_PASSWORD, "csrf_token": csrf(client)},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins from this address (the limit is 30 per 1 minute)" in (
        response.get_data(as_text=True)
    )
    assert attempt(app.test_client(), "amira", DEMO_PASSWORD, address="198.51.100.7") == 302


def test_behind_a_trusted_proxy_one_clients_guesses_hold_only_that_client(
    app_maker: Callable[..., Flask], database_url: str, demo: Session
) -> None:
    line = app_maker(database_url, TRUSTED_PROXIES="1")
    attacker, clinician = line.test_client(), line.test_client()
    # The attacker forges an X-Forwarded-For of its own each time: only the entry the proxy
    # appended (the last) is trusted, so the forgery changes nothing.
    codes = [
        attempt(attacker, "amira", address=PROXY, forwarded=f"192.0.2.{n}, 203.0.113.9")
        for n in range(11)
    ]
    assert codes == [400] * 10 + [429]
    assert attempt(clinician, "amira", DEMO_PASSWORD, address=PROXY, forwarded="198.51.100.7") == (
        302
    )
    assert clinician.get("/console").status_code == 200


def test_behind_a_proxy_that_is_not_trusted_everyone_shares_one_address_and_the_log_says_so(
    app_maker: Callable[..., Flask],
    database_url: str,
    demo: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The finding, reproduced where TRUSTED_PROXIES is left at 0 behind a proxy."""
    line = app_maker(database_url)
    assert line.config["TRUSTED_PROXIES"] == 0
    attacker, clinician = line.test_client(), line.test_client()
    with caplog.at_level(logging.WARNING, logger="advice_line.security"):
        for _ in range(10):
            attempt(attacker, "amira", address=PROXY, forwarded="203.0.113.9")
    assert attempt(clinician, "amira", DEMO_PASSWORD, address=PROXY, forwarded="198.51.100.7") == (
        429
    )
    warnings = [r.getMessage() for r in caplog.records if r.name == "advice_line.security"]
    assert len(warnings) == 1, "said once, not on every request"
    assert "Set TRUSTED_PROXIES to the number of proxies in front of the app" in warnings[0]


@pytest.mark.parametrize("value", ["-1", "one", "6", "1.5"])
def test_nonsense_trusted_proxies_are_refused(
    app_maker: Callable[..., Flask], database_url: str, value: str
) -> None:
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES"):
        app_maker(database_url, TRUSTED_PROXIES=value)


def test_the_address_limit_is_configurable_and_can_be_off(
    app_maker: Callable[..., Flask], database_url: str, demo: Session
) -> None:
    strict = app_maker(database_url, LOGIN_ADDRESS_RATE_LIMIT="3 per hour")
    client = strict.test_client()
    assert [attempt(client, f"nobody-{n}") for n in range(4)] == [400, 400, 400, 429]
    relaxed = app_maker(database_url, LOGIN_ADDRESS_RATE_LIMIT="off")
    client = relaxed.test_client()
    assert {attempt(client, f"nobody-{n}") for n in range(35)} == {400}
    with pytest.raises(ConfigurationError, match="LOGIN_ADDRESS_RATE_LIMIT"):
        app_maker(database_url, LOGIN_ADDRESS_RATE_LIMIT="often")
