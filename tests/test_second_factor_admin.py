"""Admins reset a second factor and link single sign-on identities, in the browser and by CLI.

The app here runs as in demo mode (SECOND_FACTOR_REQUIRED off): an account that has set
up a second factor is still asked for its code.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import SYSTEM
from advice_line.clock import utcnow
from advice_line.demo import DEMO_PASSWORD, seed_demo
from advice_line.lifecycle import second_factor as factor
from advice_line.models import AuditEvent, RecoveryCode, User
from tests.test_console import csrf, sign_in


@pytest.fixture
def demo(session: Session) -> Session:
    seed_demo(session, now=utcnow())
    session.commit()
    return session


def account(session: Session, username: str) -> User:
    session.expire_all()
    found = session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def enrolled(session: Session, username: str) -> User:
    """Set up ``username``'s second factor directly, as if they had done it at sign-in."""
    user = account(session, username)
    secret = factor.start_enrolment(session, user.id)
    code = pyotp.TOTP(secret).at(int(utcnow().timestamp()))
    assert factor.confirm_enrolment(session, SYSTEM, user.id, code, now=utcnow())
    session.commit()
    return user


def post(client: FlaskClient, path: str, data: dict[str, str], *, page: str) -> tuple[int, str]:
    response = client.post(path, data={**data, "csrf_token": csrf(client, page)})
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.usefixtures("demo")
def test_an_enrolled_user_is_asked_for_a_code_even_where_it_is_not_required(
    app: Flask, session: Session
) -> None:
    enrolled(session, "amira")
    client = app.test_client()
    response = client.post(
        "/login", data={"username": "amira", "password": DEMO_PASSWORD, "csrf_token": csrf(client)}
    )
    assert response.headers["Location"].endswith("/login/code")
    assert sign_in(app, "ben").get("/console").status_code == 200, "others sign in in one step"


@pytest.mark.usefixtures("demo")
def test_an_admin_resets_a_second_factor_and_the_user_signs_in_without_it(
    app: Flask, session: Session
) -> None:
    user = enrolled(session, "amira")
    admin = sign_in(app, "alex")
    page_path = f"/admin/accounts/{user.id}/second-factor"
    page = admin.get(page_path).get_data(as_text=True)
    assert re.search(r'id="recovery-codes-left">10<', page)
    assert "Set up" in page
    no_csrf = admin.post(f"/admin/accounts/{user.id}/second-factor/reset")
    assert no_csrf.status_code == 400
    assert account(session, "amira").totp_secret is not None
    status, _ = post(admin, f"/admin/accounts/{user.id}/second-factor/reset", {}, page=page_path)
    assert status == 302
    reset = account(session, "amira")
    assert reset.totp_secret is None
    assert reset.totp_confirmed_at is None
    assert session.scalars(select(RecoveryCode)).all() == []
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "staff.second_factor_reset")
    ).one()
    assert event.actor_user_id == account(session, "alex").id
    assert event.subject_id == user.id
    assert sign_in(app, "amira").get("/console").status_code == 200
    assert re.search(r'id="second-factor-state">\s*Not set up', admin.get(page_path).text)


@pytest.mark.usefixtures("demo")
def test_an_admin_links_and_unlinks_a_single_sign_on_identity(app: Flask, session: Session) -> None:
    amira, ben = account(session, "amira"), account(session, "ben")
    admin = sign_in(app, "alex")
    page = f"/admin/accounts/{amira.id}/second-factor"
    action = f"/admin/accounts/{amira.id}/sso-identity"
    assert post(admin, action, {"sso_identity": " oid-1234 "}, page=page)[0] == 302
    assert account(session, "amira").sso_identity == "oid-1234"
    assert 'id="sso-identity">oid-1234<' in admin.get(page).text
    taken = post(
        admin, f"/admin/accounts/{ben.id}/sso-identity", {"sso_identity": "oid-1234"}, page=page
    )
    assert taken[0] == 400
    assert "already belongs to amira" in taken[1]
    assert account(session, "ben").sso_identity is None
    for bad in ("x" * 256, "oid\u200b\u0085"):
        status, text = post(admin, action, {"sso_identity": bad}, page=page)
        assert status == 400
        assert "nhsuk-error-message" in text
    assert admin.post(action, data={"sso_identity": "oid-9"}).status_code == 400, "no CSRF"
    assert account(session, "amira").sso_identity == "oid-1234"
    assert post(admin, action, {"sso_identity": ""}, page=page)[0] == 302
    assert account(session, "amira").sso_identity is None
    changes = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "staff.sso_identity_changed")
    ).all()
    assert changes == [{"from": None, "to": "oid-1234"}, {"from": "oid-1234", "to": None}]


@pytest.mark.usefixtures("demo")
def test_only_admins_may_reset_or_link(app: Flask, session: Session) -> None:
    amira = account(session, "amira")
    clinician = sign_in(app, "ben")
    for action in ("second-factor/reset", "sso-identity"):
        status, _ = post(clinician, f"/admin/accounts/{amira.id}/{action}", {}, page="/console")
        assert status == 403
    assert sign_in(app, "alex").get("/admin/accounts/999999/second-factor").status_code == 404


@pytest.mark.usefixtures("demo")
def test_the_staff_commands_reset_and_link(app: Flask, session: Session) -> None:
    enrolled(session, "amira")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["staff", "reset-second-factor", "amira"])
    assert result.exit_code == 0, result.output
    assert account(session, "amira").totp_secret is None
    unknown = runner.invoke(args=["staff", "reset-second-factor", "nobody"])
    assert unknown.exit_code == 1
    assert "no staff account 'nobody'" in unknown.output
    assert runner.invoke(args=["staff", "sso-identity", "amira", "uid-77"]).exit_code == 0
    assert account(session, "amira").sso_identity == "uid-77"
    taken = runner.invoke(args=["staff", "sso-identity", "ben", "uid-77"])
    assert taken.exit_code == 1
    assert "already belongs to amira" in taken.output
    assert runner.invoke(args=["staff", "sso-identity", "amira"]).exit_code == 1
    assert runner.invoke(args=["staff", "sso-identity", "amira", "--clear"]).exit_code == 0
    assert account(session, "amira").sso_identity is None
    sources = session.scalars(
        select(AuditEvent.source).where(AuditEvent.action.like("staff.%"))
    ).all()
    assert sources == [
        "flask staff reset-second-factor",
        "flask staff sso-identity",
        "flask staff sso-identity",
    ]
