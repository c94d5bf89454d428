"""Staff accounts administered: the domain, the admin pages and ``flask staff``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from advice_line import create_app, lifecycle
from advice_line.admin.settings import settings_in_effect
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.demo import DEMO_PASSWORD
from advice_line.extensions import db
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.models import (
    AuditEvent,
    Clinician,
    ClinicianStatus,
    Role,
    SessionEnd,
    User,
    UserSession,
)
from tests.conftest import PRODUCTION_ENV
from tests.test_console import csrf, demo, sign_in

__all__ = ["demo"]  # the fixture, imported for these tests

ADMIN = Actor("user", None, "test")
GOOD = "correct horse battery"


def user(session: Session, username: str) -> User:
    session.rollback()
    return session.scalars(select(User).where(User.username == username)).one()


def events(session: Session, action: str) -> list[AuditEvent]:
    session.rollback()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def counts(session: Session) -> tuple[int, int]:
    session.rollback()
    return (
        session.scalar(select(func.count(User.id))) or 0,
        session.scalar(select(func.count(AuditEvent.id))) or 0,
    )


def create(session: Session, **given: str) -> User:
    fields = {"username": "nina", "display_name": "Nina Patel", "role": "clinician"}
    new = lifecycle.NewAccount(password=given.pop("password", GOOD), **(fields | given))
    created = lifecycle.create_account(
        session, new, hasher=generate_password_hash, now=utcnow(), actor=ADMIN
    )
    session.commit()
    return created


# --- the domain ------------------------------------------------------------------------


def test_a_new_account_is_cleaned_hashed_and_must_change_its_password(demo: Session) -> None:
    created = create(demo, username="  Nina\x01 ", role="manager")
    assert created.username == "nina"
    assert created.role == Role.MANAGER
    assert created.must_change_password
    assert created.active
    assert check_password_hash(created.password_hash, GOOD)
    (event,) = events(demo, "user.created")
    assert event.subject_id == created.id
    assert event.detail == {"username": "nina", "role": "manager"}
    assert GOOD not in str(event.detail)


@pytest.mark.parametrize(
    ("given", "field", "said"),
    [
        ({"username": "  "}, "username", "Enter a username."),
        ({"username": "n" * 81}, "username", "at most 80 characters"),
        ({"username": "nina patel"}, "username", "no spaces"),
        ({"username": "ALEX"}, "username", "There is already an account called alex."),
        ({"display_name": " "}, "display_name", "Enter the person's name."),
        ({"display_name": "N" * 121}, "display_name", "at most 120 characters"),
        ({"role": "superuser"}, "role", "Choose one of: clinician, senior_clinician"),
        ({"password": "short"}, "password", "at least 12 characters"),
        ({"password": DEMO_PASSWORD}, "password", "published demo password"),
        ({"username": "ninapatel1234", "password": "NinaPatel1234"}, "password", "username"),
    ],
)
def test_a_bad_new_account_is_refused_and_nothing_is_stored(
    demo: Session, given: dict[str, str], field: str, said: str
) -> None:
    before = counts(demo)
    with pytest.raises(InvalidInput) as refused:
        create(demo, **given)
    assert said in refused.value.errors[field]
    assert counts(demo) == before


def test_role_changes_are_audited_and_the_last_admin_stays(demo: Session) -> None:
    lifecycle.change_role(demo, "morgan", Role.ADMIN, now=utcnow(), actor=ADMIN)
    demo.commit()
    (event,) = events(demo, "user.role_changed")
    assert event.detail == {"from": "manager", "to": "admin"}
    lifecycle.change_role(demo, "alex", "manager", now=utcnow(), actor=ADMIN)
    demo.commit()
    with pytest.raises(IllegalTransition, match="morgan is the last active admin"):
        lifecycle.change_role(demo, "morgan", "clinician", now=utcnow(), actor=ADMIN)
    demo.rollback()
    with pytest.raises(IllegalTransition, match="last active admin"):
        lifecycle.deactivate_account(demo, "morgan", now=utcnow(), actor=ADMIN)
    demo.rollback()
    with pytest.raises(IllegalTransition, match="morgan is already a"):
        lifecycle.change_role(demo, "morgan", "admin", now=utcnow(), actor=ADMIN)
    demo.rollback()
    with pytest.raises(InvalidInput):
        lifecycle.change_role(demo, "morgan", "boss", now=utcnow(), actor=ADMIN)
    assert user(demo, "morgan").role == Role.ADMIN


def _clinician(session: Session, username: str) -> Clinician:
    return session.scalars(select(Clinician).join(User).where(User.username == username)).one()


def test_a_clinician_with_a_request_in_hand_keeps_the_console_role(demo: Session) -> None:
    _clinician(demo, "amira").status = ClinicianStatus.ON_CALL
    demo.commit()
    with pytest.raises(IllegalTransition, match="amira has a request in hand \\(on call\\)"):
        lifecycle.change_role(demo, "amira", "manager", now=utcnow(), actor=ADMIN)
    demo.rollback()
    assert user(demo, "amira").role == Role.CLINICIAN
    # Between requests (available), leaving the console sets them offline: no more offers.
    lifecycle.change_role(demo, "ben", "manager", now=utcnow(), actor=ADMIN)
    demo.commit()
    assert _clinician(demo, "ben").status == ClinicianStatus.OFFLINE
    # Clinician to senior keeps the console: the status stays.
    lifecycle.change_role(demo, "amira", "senior_clinician", now=utcnow(), actor=ADMIN)
    demo.commit()
    assert _clinician(demo, "amira").status == ClinicianStatus.ON_CALL


def test_reset_force_unlock_and_reactivate(demo: Session) -> None:
    amira = user(demo, "amira")
    lifecycle.start_session(demo, amira.id, now=utcnow())
    demo.commit()
    with pytest.raises(InvalidInput, match="at least 12"):
        lifecycle.reset_password(
            demo, "amira", "x", hasher=generate_password_hash, now=utcnow(), actor=ADMIN
        )
    demo.rollback()
    lifecycle.reset_password(
        demo, "amira", GOOD, hasher=generate_password_hash, now=utcnow(), actor=ADMIN
    )
    demo.commit()
    amira = user(demo, "amira")
    assert amira.must_change_password
    assert check_password_hash(amira.password_hash, GOOD)
    ended = demo.scalars(select(UserSession.ended_reason).where(UserSession.user_id == amira.id))
    assert set(ended) == {SessionEnd.PASSWORD_RESET}
    assert events(demo, "user.password_reset")[0].detail == {"sessions_ended": 1}
    with pytest.raises(IllegalTransition, match="must already change"):
        lifecycle.force_password_change(demo, "amira", now=utcnow(), actor=ADMIN)
    demo.rollback()
    lifecycle.force_password_change(demo, "ben", now=utcnow(), actor=ADMIN)
    demo.commit()
    assert user(demo, "ben").must_change_password
    with pytest.raises(IllegalTransition, match="ben is not locked"):
        lifecycle.unlock_account(demo, "ben", now=utcnow(), actor=ADMIN)
    demo.rollback()
    ben = user(demo, "ben")
    ben.locked_at, ben.second_factor_failures = utcnow(), 5
    demo.commit()
    lifecycle.unlock_account(demo, "ben", now=utcnow(), actor=ADMIN)
    demo.commit()
    ben = user(demo, "ben")
    assert ben.locked_at is None
    assert ben.second_factor_failures == 0
    assert events(demo, "user.unlocked")[0].detail == {"second_factor_failures": 5}
    lifecycle.deactivate_account(demo, "ben", now=utcnow(), actor=ADMIN)
    demo.commit()
    with pytest.raises(IllegalTransition, match="already deactivated"):
        lifecycle.deactivate_account(demo, "ben", now=utcnow(), actor=ADMIN)
    demo.rollback()
    lifecycle.reactivate_account(demo, "ben", now=utcnow(), actor=ADMIN)
    demo.commit()
    assert user(demo, "ben").active
    assert len(events(demo, "user.reactivated")) == 1
    every = [e.detail for e in events(demo, "user.password_reset")]
    assert GOOD not in str(every)


# --- the pages -------------------------------------------------------------------------

PAGES = ["/admin/accounts", "/admin/accounts/new", "/admin/accounts/1", "/admin/settings"]


@pytest.mark.parametrize("username", ["amira", "morgan"])
def test_clinicians_and_managers_get_403_on_every_account_page(
    app: Flask, demo: Session, username: str
) -> None:
    client = sign_in(app, username)
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    token = csrf(client, {"amira": "/console", "morgan": "/reports/"}[username])
    response = client.post("/admin/accounts/1/deactivate", data={"csrf_token": token})
    assert response.status_code == 403
    assert user(demo, "amira").active


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, demo: Session) -> None:
    for path in PAGES:
        response = app.test_client().get(path)
        assert response.status_code == 302
        assert response.location.startswith("/login?next=")


def test_the_list_shows_each_account_and_its_state(app: Flask, demo: Session) -> None:
    ben = user(demo, "ben")
    ben.locked_at, ben.totp_confirmed_at = utcnow(), utcnow()
    demo.commit()
    page = sign_in(app, "alex").get("/admin/accounts").get_data(as_text=True)
    row = re.search(r'<tr class="nhsuk-table__row" id="account-ben">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1])]
    assert cells == ["ben", ben.display_name, "Clinician", "yes", "yes", "no", "enrolled", "never"]
    alex_row = re.search(r'id="account-alex">(.*?)</tr>', page, re.S)
    assert alex_row is not None
    assert "never" not in alex_row[1], "alex has just signed in"


def _post(client: FlaskClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": csrf(client, "/admin/accounts"), **data})


def test_an_admin_creates_an_account_and_records_a_clinicians_details_next(
    app: Flask, demo: Session
) -> None:
    alex = sign_in(app, "alex")
    assert "Create a staff account" in alex.get("/admin/accounts/new").get_data(as_text=True)
    response = _post(
        alex,
        "/admin/accounts/new",
        username="Nina",
        display_name="Nina Patel",
        role="clinician",
        password=GOOD,
        confirm=GOOD,
    )
    nina = user(demo, "nina")
    assert response.status_code == 302
    assert response.location == f"/admin/clinicians/{nina.id}", "a clinician needs details next"
    page = alex.get(response.location).get_data(as_text=True)
    assert "nina can sign in with the temporary password, then must change it." in page
    assert "Now record their profession, registration, skills and phone." in page
    assert f'href="/admin/accounts/{nina.id}"' in page, "and the way back to the account"
    response = _post(
        alex,
        "/admin/accounts/new",
        username="omar",
        display_name="Omar Reid",
        role="manager",
        password=GOOD,
        confirm=GOOD,
    )
    assert response.location == f"/admin/accounts/{user(demo, 'omar').id}"
    assert nina.must_change_password
    first, _ = events(demo, "user.created")
    assert first.actor_user_id == user(demo, "alex").id


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"username": ""}, "Enter a username."),
        ({"username": "n" * 81}, "A username has at most 80 characters."),
        ({"username": "ben"}, "There is already an account called ben."),
        ({"role": "superuser"}, "Choose one of: clinician"),
        ({"password": "short", "confirm": "short"}, "A password has at least 12 characters."),
        ({"password": DEMO_PASSWORD, "confirm": DEMO_PASSWORD}, "published demo password"),
        ({"confirm": GOOD + "!"}, "The passwords differ."),
        ({"display_name": ""}, "Enter the person&#39;s name."),
    ],
)
def test_a_bad_new_account_form_answers_400_with_the_reason(
    app: Flask, demo: Session, given: dict[str, str], said: str
) -> None:
    alex = sign_in(app, "alex")
    before = counts(demo)
    fields = {"username": "nina", "display_name": "Nina", "role": "clinician"}
    response = _post(
        alex, "/admin/accounts/new", **(fields | {"password": GOOD, "confirm": GOOD} | given)
    )
    assert response.status_code == 400
    assert said in response.get_data(as_text=True)
    assert counts(demo) == before


@pytest.mark.parametrize("token", ["missing", "forged", "another session's"])
def test_a_form_without_its_csrf_token_is_refused(app: Flask, demo: Session, token: str) -> None:
    alex = sign_in(app, "alex")
    sent = {"forged": {"csrf_token": "forged-token"}}.get(token, {})
    if token == "another session's":
        sent = {"csrf_token": csrf(sign_in(app, "alex"), "/admin/accounts")}
    before = counts(demo)
    data = {"username": "nina", "display_name": "N", "role": "clinician", "password": GOOD}
    response = alex.post("/admin/accounts/new", data=data | {"confirm": GOOD} | sent)
    assert response.status_code == 400
    ben = user(demo, "ben").id
    for action, extra in [
        ("deactivate", {"understood": "y"}),
        ("role", {"role": "manager"}),
        ("password", {"password": GOOD, "confirm": GOOD}),
        ("force-change", {}),
        ("reactivate", {}),
        ("unlock", {}),
    ]:
        response = alex.post(f"/admin/accounts/{ben}/{action}", data=extra | sent)
        assert response.status_code == 400
    assert counts(demo) == before
    assert user(demo, "ben").role == Role.CLINICIAN


def test_each_action_on_the_account_page_is_done_and_audited(app: Flask, demo: Session) -> None:
    alex = sign_in(app, "alex")
    alex_id, ben = user(demo, "alex").id, user(demo, "ben")
    page = f"/admin/accounts/{ben.id}"
    html = alex.get(page).get_data(as_text=True)
    assert "Deactivate ben" in html
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "each label names one field"
    steps = [
        ("role", {"role": "senior_clinician"}, "user.role_changed"),
        ("password", {"password": GOOD, "confirm": GOOD}, "user.password_reset"),
        ("deactivate", {"understood": "y"}, "user.deactivated"),
        ("reactivate", {}, "user.reactivated"),
    ]
    for action, data, audited in steps:
        response = _post(alex, f"{page}/{action}", **data)
        assert response.status_code == 302, (action, response.get_data(as_text=True)[:2000])
        (event,) = events(demo, audited)
        assert event.actor_user_id == alex_id
        assert event.subject_id == ben.id
    morgan = user(demo, "morgan")
    morgan.locked_at = utcnow()
    demo.commit()
    for action, audited in [
        ("force-change", "user.password_change_forced"),
        ("unlock", "user.unlocked"),
    ]:
        response = _post(alex, f"/admin/accounts/{morgan.id}/{action}")
        assert response.status_code == 302
        assert events(demo, audited)[0].actor_user_id == alex_id
    ben, morgan = user(demo, "ben"), user(demo, "morgan")
    assert (ben.role, ben.active, ben.must_change_password) == (Role.SENIOR_CLINICIAN, True, True)
    assert (morgan.must_change_password, morgan.locked_at) == (True, None)


@pytest.mark.parametrize(
    ("action", "data", "said"),
    [
        ("deactivate", {}, "Tick the box to confirm the deactivation."),
        ("password", {"password": "short", "confirm": "short"}, "at least 12 characters"),
        ("password", {"password": GOOD, "confirm": "other"}, "The passwords differ."),
        ("role", {"role": "boss"}, "Choose one of: clinician"),
        ("unlock", {}, "ben is not locked."),
        ("reactivate", {}, "ben is already active."),
    ],
)
def test_a_refused_action_answers_400_with_the_reason_and_changes_nothing(
    app: Flask, demo: Session, action: str, data: dict[str, str], said: str
) -> None:
    alex = sign_in(app, "alex")
    ben = user(demo, "ben").id
    before = counts(demo)
    response = _post(alex, f"/admin/accounts/{ben}/{action}", **data)
    assert response.status_code == 400
    assert said in response.get_data(as_text=True)
    assert counts(demo) == before
    assert user(demo, "ben").active


def test_the_last_admin_cannot_demote_or_deactivate_themselves(app: Flask, demo: Session) -> None:
    alex = sign_in(app, "alex")
    me = user(demo, "alex").id
    for action, data in [("role", {"role": "manager"}), ("deactivate", {"understood": "y"})]:
        response = _post(alex, f"/admin/accounts/{me}/{action}", **data)
        assert response.status_code == 400
        assert "alex is the last active admin" in response.get_data(as_text=True)
    assert user(demo, "alex").role == Role.ADMIN
    assert alex.get("/admin/accounts").status_code == 200


def test_an_unknown_account_is_404(app: Flask, demo: Session) -> None:
    alex = sign_in(app, "alex")
    assert alex.get("/admin/accounts/99999").status_code == 404
    assert _post(alex, "/admin/accounts/99999/unlock").status_code == 404


def test_the_settings_page_shows_forces_and_settings_but_never_a_secret(
    app: Flask, demo: Session
) -> None:
    app.config["OWNER_DATABASE_URL"] = "postgresql+psycopg://owner:s3cret-pw@db.example/line"
    app.config["METRICS_TOKEN"] = "m" * 30
    app.config["OIDC_PROVIDERS"] = {
        "entra": {"label": "Microsoft Entra ID", "client_id": "line", "client_secret": "e" * 40}
    }
    page = sign_in(app, "alex").get("/admin/settings").get_data(as_text=True)
    assert "e" * 40 not in page, "a provider's client secret is never shown"
    assert "client_secret: set" in page
    with app.test_request_context():
        unexplained = [s.name for s in settings_in_effect() if not s.meaning]
    assert unexplained == [], "every setting says what it means"
    for force in app.config["FORCES"]:
        assert force in page
    assert "owner:********@db.example/line" in page
    assert "OFFER_TIMEOUT_SECONDS" in page
    assert "how long a clinician has to accept" in page
    for secret in ("s3cret-pw", app.config["SECRET_KEY"], app.config["TWILIO_AUTH_TOKEN"]):
        assert secret not in page
    assert "m" * 30 not in page
    assert re.search(r"<code>METRICS_TOKEN</code>.*?<td[^>]*>set</td>", page, re.S)


def test_admins_land_on_administration_with_both_sections(app: Flask, demo: Session) -> None:
    alex = sign_in(app, "alex")
    page = alex.get("/admin/").get_data(as_text=True)
    assert page.index("Staff accounts") < page.index("Forces and settings")


# --- flask staff -----------------------------------------------------------------------


def production_app(tmp_path: Path) -> Flask:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    app = create_app({"TESTING": True}, env={**PRODUCTION_ENV, "DATABASE_URL": url})
    with app.app_context():
        db.create_all()
    return app


def test_the_first_admin_is_created_on_an_empty_production_database(tmp_path: Path) -> None:
    app = production_app(tmp_path)
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["staff", "create", "alice", "--role", "admin"], input="short\nshort\n"
    )
    assert result.exit_code == 1
    assert "A password has at least 12 characters." in result.output
    result = runner.invoke(
        args=["staff", "create", "Alice", "--role", "admin", "--name", "Alice Jones"],
        input=f"{GOOD}\n{GOOD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "alice (administrator) is created" in result.output
    assert GOOD not in result.output
    with app.app_context():
        alice = db.session.scalars(select(User)).one()
        assert (alice.username, alice.display_name, alice.role) == ("alice", "Alice Jones", "admin")
        assert alice.must_change_password
        assert check_password_hash(alice.password_hash, GOOD)
        event = db.session.scalars(select(AuditEvent)).one()
        assert (event.action, event.source) == ("user.created", "flask staff create")
        db.engine.dispose()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["staff", "create", "", "--role", "admin", "--password-stdin"], "Enter a username."),
        (["staff", "create", "x" * 81, "--role", "admin", "--password-stdin"], "at most 80"),
        (["staff", "create", "ben", "--role", "admin", "--password-stdin"], "already an account"),
        (["staff", "create", "nina", "--role", "boss", "--password-stdin"], "Choose one of"),
        (["staff", "set-role", "alex", "manager"], "alex is the last active admin"),
        (["staff", "set-role", "ben", "boss"], "Choose one of"),
        (["staff", "set-role", "nobody", "admin"], "No staff account is called 'nobody'."),
        (["staff", "deactivate", "alex"], "alex is the last active admin"),
        (["staff", "reactivate", "ben"], "ben is already active."),
        (["staff", "reset-password", "ben", "--password-stdin"], "at least 12 characters"),
        (["staff", "unlock", "ben"], "ben is not locked."),
    ],
)
def test_a_refused_staff_command_exits_1_and_stores_nothing(
    app: Flask, demo: Session, args: list[str], said: str
) -> None:
    before = counts(demo)
    stdin = "short\n" if "reset-password" in args else f"{GOOD}\n"
    result = app.test_cli_runner().invoke(args=args, input=stdin)
    assert result.exit_code == 1, result.output
    assert said in result.output
    assert counts(demo) == before


def test_staff_commands_do_what_they_say_and_audit_it(app: Flask, demo: Session) -> None:
    runner = app.test_cli_runner()

    def run(*args: str, stdin: str = "") -> str:
        result = runner.invoke(args=["staff", *args], input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    run("create", "nina", "--role", "clinician", "--password-stdin", stdin=f"{GOOD}\n")
    assert run("set-role", "nina", "manager") == "nina is now a service manager.\n"
    run("deactivate", "nina")
    run("reactivate", "nina")
    run("reset-password", "nina", stdin=f"{GOOD}2\n{GOOD}2\n")
    run("force-change", "ben")
    ben = user(demo, "ben")
    ben.locked_at = utcnow()
    demo.commit()
    assert run("unlock", "ben") == "ben is unlocked.\n"
    listing = run("list")
    assert re.search(
        r"^nina +manager +active, must change password, no second factor", listing, re.M
    )
    assert re.search(r"^ben +clinician +active, must change password", listing, re.M)
    demo.rollback()
    audited = select(AuditEvent.action, AuditEvent.source).where(AuditEvent.action.like("user.%"))
    sources = dict(demo.execute(audited).all())
    assert sources == {
        "user.created": "flask staff create",
        "user.role_changed": "flask staff set-role",
        "user.deactivated": "flask staff deactivate",
        "user.reactivated": "flask staff reactivate",
        "user.password_reset": "flask staff reset-password",
        "user.password_change_forced": "flask staff force-change",
        "user.unlocked": "flask staff unlock",
    }
    assert check_password_hash(user(demo, "nina").password_hash, f"{GOOD}2")


def test_a_password_is_never_taken_as_an_argument(app: Flask, demo: Session) -> None:
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "nina", "--role", "admin", "--password", GOOD]
    )
    assert result.exit_code == 2
    assert "No such option" in result.output
