"""Password sign-in with a second factor: enrolment, codes, recovery codes, lock, forced change."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.auth import second_factor as steps
from advice_line.clock import utcnow
from advice_line.demo import DEMO_PASSWORD, seed_demo
from advice_line.models import AuditEvent, RecoveryCode, User
from tests.test_console import csrf
from tests.test_socket_gate import POLLING

NEW_PASSWORD = "a long new passphrase 42"


@pytest.fixture
def app_env() -> dict[str, str]:
    return {"SECOND_FACTOR_REQUIRED": "true"}


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def password_step(app: Flask, username: str, password: str = DEMO_PASSWORD) -> FlaskClient:
    """A browser that gave the right password: half signed in."""
    client = app.test_client()
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def code_at(secret: str, offset: int = 0) -> str:
    """The authenticator app's code, ``offset`` time steps from now."""
    return pyotp.TOTP(secret).at(int(utcnow().timestamp()), counter_offset=offset)


def enrol(app: Flask, username: str) -> tuple[str, list[str]]:
    """Set up the second factor; return the secret and the recovery codes shown."""
    client = password_step(app, username)
    page = client.get("/login/set-up-second-factor").get_data(as_text=True)
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert found, page
    secret = found.group(1)
    token = csrf(client, "/login/set-up-second-factor")
    response = client.post(
        "/login/set-up-second-factor", data={"code": code_at(secret), "csrf_token": token}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = re.findall(r"<code>([a-z2-7]{5}-[a-z2-7]{5})</code>", response.get_data(as_text=True))
    return secret, codes


def send_code(client: FlaskClient, code: str, *, with_csrf: bool = True) -> tuple[int, str]:
    data = {"code": code}
    if with_csrf:
        data["csrf_token"] = csrf(client, "/login/code")
    response = client.post("/login/code", data=data)
    return response.status_code, response.get_data(as_text=True)


def user(session: Session, username: str) -> User:
    session.expire_all()
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.mark.usefixtures("demo")
def test_first_sign_in_enrols_with_a_qr_code_and_shows_ten_recovery_codes_once(
    app: Flask, session: Session
) -> None:
    client = app.test_client()
    response = client.post(
        "/login", data={"username": "amira", "password": DEMO_PASSWORD, "csrf_token": csrf(client)}
    )
    assert response.headers["Location"].endswith("/login/set-up-second-factor")
    page = client.get("/login/set-up-second-factor").get_data(as_text=True)
    assert "<svg" in page
    assert 'id="totp-secret"' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    token = csrf(client, "/login/set-up-second-factor")
    wrong = client.post("/login/set-up-second-factor", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.get_data(as_text=True)
    assert client.get("/console").status_code == 302, "not signed in before the code"
    right = client.post(
        "/login/set-up-second-factor", data={"code": code_at(secret), "csrf_token": token}
    )
    codes = re.findall(r"<code>([a-z2-7]{5}-[a-z2-7]{5})</code>", right.get_data(as_text=True))
    assert right.status_code == 200
    assert len(set(codes)) == 10
    assert client.get("/console").status_code == 200
    stored = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not set(codes) & set(stored), "stored hashed"
    assert "auth.second_factor_enrolled" in actions(session)
    assert user(session, "amira").totp_confirmed_at is not None


@pytest.mark.usefixtures("demo")
def test_an_enrolled_user_signs_in_with_a_code_that_cannot_be_used_twice(
    app: Flask, session: Session
) -> None:
    secret, _ = enrol(app, "amira")
    client = password_step(app, "amira")
    code = code_at(secret, 1)  # the enrolment used this step's code
    assert send_code(client, code)[0] == 302
    assert client.get("/console").status_code == 200
    replay = password_step(app, "amira")
    status, page = send_code(replay, code)
    assert status == 400
    assert "used already" in page
    assert replay.get("/console").status_code == 302
    assert user(session, "amira").second_factor_failures == 1


@pytest.mark.usefixtures("demo")
def test_a_recovery_code_signs_in_once(app: Flask, session: Session) -> None:
    _, codes = enrol(app, "amira")
    first = password_step(app, "amira")
    assert send_code(first, codes[3].upper().replace("-", " "))[0] == 302
    again = password_step(app, "amira")
    assert send_code(again, codes[3])[0] == 400
    assert "auth.recovery_code_used" in actions(session)


@pytest.mark.usefixtures("demo")
def test_five_wrong_codes_in_a_row_lock_the_account_until_an_admin_unlocks_it(
    app: Flask, session: Session
) -> None:
    enrol(app, "amira")
    client = password_step(app, "amira")
    statuses = [send_code(client, "000000")[0] for _ in range(4)]
    assert statuses == [400] * 4
    status, page = send_code(client, "000000")
    assert status == 403
    assert "Ask an administrator to unlock it" in page
    assert user(session, "amira").locked_at is not None
    assert "auth.account_locked" in actions(session)
    again = app.test_client()
    refused = again.post(
        "/login", data={"username": "amira", "password": DEMO_PASSWORD, "csrf_token": csrf(again)}
    )
    assert refused.status_code == 400
    assert "locked after too many wrong codes" in refused.get_data(as_text=True)


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize(
    "code", ["abcdef", "12345", "1234567890123", "12a456", "", "<script>", "123456789012345678"]
)
def test_a_code_of_the_wrong_shape_is_refused_and_not_counted(
    app: Flask, session: Session, code: str
) -> None:
    enrol(app, "amira")
    client = password_step(app, "amira")
    status, page = send_code(client, code)
    assert status == 400
    assert "nhsuk-error-message" in page
    assert user(session, "amira").second_factor_failures == 0


@pytest.mark.usefixtures("demo")
def test_a_code_without_the_csrf_token_is_refused(app: Flask, session: Session) -> None:
    secret, _ = enrol(app, "amira")
    client = password_step(app, "amira")
    assert send_code(client, code_at(secret, 1), with_csrf=False)[0] == 400
    assert client.get("/console").status_code == 302


@pytest.mark.usefixtures("demo")
def test_half_signed_in_opens_no_page_and_no_socket(app: Flask) -> None:
    enrol(app, "amira")
    client = password_step(app, "amira")
    assert client.get("/console").status_code == 302
    assert client.get("/console/api/state").status_code in {401, 404}
    assert client.get(POLLING).status_code == 401
    manager = password_step(app, "alex")
    assert manager.get("/admin/").status_code == 302


@pytest.mark.usefixtures("demo")
def test_half_signed_in_lasts_five_minutes(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    secret, _ = enrol(app, "amira")
    client = password_step(app, "amira")
    token = csrf(client, "/login/code")
    later = utcnow() + timedelta(minutes=steps.HALF_MINUTES, seconds=1)
    monkeypatch.setattr(steps, "utcnow", lambda: later)
    response = client.post("/login/code", data={"code": code_at(secret, 1), "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert client.get("/console").status_code == 302


@pytest.mark.usefixtures("demo")
def test_a_forced_password_change_comes_first_and_refuses_weak_passwords(
    app: Flask, session: Session
) -> None:
    user(session, "amira").must_change_password = True
    session.commit()
    client = password_step(app, "amira")
    assert client.get("/console").status_code == 302
    assert client.get("/login/code").headers["Location"].endswith("/login/new-password")
    token = csrf(client, "/login/new-password")
    refused = {
        "short": ("short pass", "short pass", "at least 12 characters"),
        "demo": (DEMO_PASSWORD, DEMO_PASSWORD, "demo password"),
        "username": ("amira-is-my-name", "amira-is-my-name", "may not contain your username"),
        "mismatch": (NEW_PASSWORD, NEW_PASSWORD + "x", "not the same"),
        "too long": ("x" * 201, "x" * 201, "Field cannot be longer"),
    }
    for password, confirmation, message in refused.values():
        response = client.post(
            "/login/new-password",
            data={"password": password, "confirmation": confirmation, "csrf_token": token},
        )
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    no_csrf = client.post(
        "/login/new-password", data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD}
    )
    assert no_csrf.status_code == 400
    assert user(session, "amira").must_change_password
    done = client.post(
        "/login/new-password",
        data={"password": NEW_PASSWORD, "confirmation": NEW_PASSWORD, "csrf_token": token},
    )
    assert done.headers["Location"].endswith("/login/set-up-second-factor")
    assert not user(session, "amira").must_change_password
    assert "auth.password_changed" in actions(session)
    old = app.test_client()
    response = old.post(
        "/login", data={"username": "amira", "password": DEMO_PASSWORD, "csrf_token": csrf(old)}
    )
    assert response.status_code == 400
    password_step(app, "amira", NEW_PASSWORD)


@pytest.mark.usefixtures("demo")
def test_the_code_step_is_rate_limited(app: Flask) -> None:
    enrol(app, "amira")
    client = password_step(app, "amira")
    statuses = [send_code(client, "abcdef")[0] for _ in range(11)]
    assert statuses == [400] * 10 + [429]


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("code", ["abcdef", "1234567", "abcde-fghij"])
def test_enrolment_needs_the_csrf_token_and_six_digits(
    app: Flask, session: Session, code: str
) -> None:
    client = password_step(app, "amira")
    page = client.get("/login/set-up-second-factor").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    no_csrf = client.post("/login/set-up-second-factor", data={"code": code_at(secret)})
    assert no_csrf.status_code == 400
    token = csrf(client, "/login/set-up-second-factor")
    bad = client.post("/login/set-up-second-factor", data={"code": code, "csrf_token": token})
    assert bad.status_code == 400
    assert "Type the 6 digits" in bad.get_data(as_text=True)
    assert user(session, "amira").totp_confirmed_at is None
    assert client.get("/console").status_code == 302
