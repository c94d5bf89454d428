"""Staff accounts as an admin runs them: create, change role, deactivate and reactivate,
reset a password or force a change at next sign-in, unlock after second-factor failures.

Every change is audited with who made it; no password (nor its hash) is ever written to
the audit log. The domain checks the password rules; the edge passes the ``hasher`` that
stores passwords (werkzeug's, which the domain may not import).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput
from advice_line.lifecycle.staff import (
    deactivate_user,
    end_open_sessions,
    require_another_admin,
    user_for_update,
)
from advice_line.lifecycle.steps import change_clinician_status
from advice_line.models import Clinician, ClinicianStatus, Role, SessionEnd, User
from advice_line.text import without_control_codes

MAX_USERNAME = 80
MAX_DISPLAY_NAME = 120
MIN_PASSWORD = 12
MAX_PASSWORD = 200
#: Published in the repository for the demo: never a real account's password.
DEMO_PASSWORD = "advice-line-demo"  # noqa: S105 - refused everywhere but demo data
#: The roles that use the clinicians' console.
CONSOLE_ROLES = frozenset({Role.CLINICIAN, Role.SENIOR_CLINICIAN})
#: A clinician in one of these holds a request (offered, talking, writing it up).
IN_HAND = frozenset({ClinicianStatus.OFFERED, ClinicianStatus.ON_CALL, ClinicianStatus.WRAP_UP})
ROLE_NAMES = {
    Role.CLINICIAN: "clinician",
    Role.SENIOR_CLINICIAN: "senior clinician",
    Role.MANAGER: "service manager",
    Role.ADMIN: "administrator",
}
#: Turns a password into what is stored (werkzeug's ``generate_password_hash`` at the edge).
Hasher = Callable[[str], str]


def normalise_username(value: Any) -> str:
    """The username as stored, looked up and as the sign-in limits count it.

    Compatibility forms folded (NFKC), control codes dropped, spaces trimmed, lower case:
    ``ben\\x01``, `` Ben `` and a full-width ``ben`` are all ``ben``,
    for the lookup and the limit alike.
    """
    text = value if isinstance(value, str) else ""
    return str(without_control_codes(unicodedata.normalize("NFKC", text))).strip().lower()


@dataclass(frozen=True)
class NewAccount:
    """A staff account to create, as typed: cleaned and checked by ``create_account``."""

    username: str
    display_name: str
    role: str
    password: str


def _username_problem(username: str) -> str | None:
    if not username:
        return "Enter a username."
    if len(username) > MAX_USERNAME:
        return f"A username has at most {MAX_USERNAME} characters."
    if any(c.isspace() for c in username):
        return "A username has no spaces."
    return None


def _display_name(value: str) -> tuple[str, str | None]:
    name = " ".join(str(without_control_codes(value or "")).split())
    if not name:
        return name, "Enter the person's name."
    if len(name) > MAX_DISPLAY_NAME:
        return name, f"A name has at most {MAX_DISPLAY_NAME} characters."
    return name, None


def _role(value: str | Role) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def _role_problem() -> str:
    return "Choose one of: " + ", ".join(role.value for role in Role) + "."


def password_problem(password: str, username: str) -> str | None:
    """What is wrong with ``password`` for ``username``, or None if it may be used."""
    if len(password) < MIN_PASSWORD:
        return f"A password has at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"A password has at most {MAX_PASSWORD} characters."
    if password == DEMO_PASSWORD:
        return "That is the published demo password: choose another."
    if normalise_username(password) == username:
        return "A password must not be the username."
    return None


def create_account(
    session: Session, new: NewAccount, *, hasher: Hasher, now: datetime, actor: Actor
) -> User:
    """Create a staff account whose first sign-in must choose a new password."""
    username = normalise_username(new.username)
    display_name, name_problem = _display_name(new.display_name)
    role = _role(new.role)
    errors = {
        "username": _username_problem(username),
        "display_name": name_problem,
        "role": None if role else _role_problem(),
        "password": password_problem(new.password, username),
    }
    if errors["username"] is None and session.scalar(
        select(User.id).where(User.username == username)
    ):
        errors["username"] = f"There is already an account called {username}."
    found = {field: problem for field, problem in errors.items() if problem}
    if found or role is None:
        raise InvalidInput(found)
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hasher(new.password),
        role=role,
        active=True,
        created_at=now,
        must_change_password=True,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        actor,
        "user.created",
        now=now,
        subject=("user", user.id),
        detail={"username": username, "role": role.value},
    )
    return user


def account_for_update(session: Session, username: str) -> User:
    """The account called ``username`` (as typed), locked; NotFound if there is none."""
    return user_for_update(session, normalise_username(username))


def change_role(
    session: Session, username: str, role: str | Role, *, now: datetime, actor: Actor
) -> User:
    """Give an account another role.

    Refused for the last active admin, and for a clinician holding a request who would
    leave the console; a clinician who is available or away leaving it is set offline.
    """
    new_role = _role(role)
    if new_role is None:
        raise InvalidInput({"role": _role_problem()})
    user = account_for_update(session, username)
    if new_role == user.role:
        raise IllegalTransition(f"{user.username} is already a {ROLE_NAMES[new_role]}.")
    if new_role != Role.ADMIN:
        require_another_admin(session, user)
    clinician = session.scalar(
        select(Clinician).where(Clinician.user_id == user.id).with_for_update()
    )
    leaves_console = new_role not in CONSOLE_ROLES and clinician is not None
    if leaves_console and clinician is not None and clinician.status in IN_HAND:
        raise IllegalTransition(
            f"{user.username} has a request in hand ({clinician.status.value.replace('_', ' ')}):"
            " change the role once they have finished it."
        )
    old = user.role
    user.role = new_role
    record_event(
        session,
        actor,
        "user.role_changed",
        now=now,
        subject=("user", user.id),
        detail={"from": old.value, "to": new_role.value},
    )
    if leaves_console and clinician is not None:
        change_clinician_status(session, clinician, ClinicianStatus.OFFLINE, now=now, actor=actor)
    session.flush()
    return user


def deactivate_account(session: Session, username: str, *, now: datetime, actor: Actor) -> User:
    """Deactivate an account: no more sign-ins, its sessions end (``deactivate_user``)."""
    return deactivate_user(session, normalise_username(username), now=now, actor=actor)


def reactivate_account(session: Session, username: str, *, now: datetime, actor: Actor) -> User:
    """Let a deactivated account sign in again."""
    user = account_for_update(session, username)
    if user.active:
        raise IllegalTransition(f"{user.username} is already active.")
    user.active = True
    record_event(session, actor, "user.reactivated", now=now, subject=("user", user.id))
    session.flush()
    return user


def reset_password(
    session: Session,
    username: str,
    password: str,
    *,
    hasher: Hasher,
    now: datetime,
    actor: Actor,
) -> User:
    """Set a temporary password, to be changed at next sign-in; open sessions end now."""
    user = account_for_update(session, username)
    problem = password_problem(password, user.username)
    if problem:
        raise InvalidInput({"password": problem})
    user.password_hash = hasher(password)
    user.must_change_password = True
    ended = end_open_sessions(session, user.id, now=now, reason=SessionEnd.PASSWORD_RESET)
    record_event(
        session,
        actor,
        "user.password_reset",
        now=now,
        subject=("user", user.id),
        detail={"sessions_ended": ended},
    )
    session.flush()
    return user


def force_password_change(session: Session, username: str, *, now: datetime, actor: Actor) -> User:
    """Make the account choose a new password at its next sign-in."""
    user = account_for_update(session, username)
    if user.must_change_password:
        raise IllegalTransition(f"{user.username} must already change their password.")
    user.must_change_password = True
    record_event(session, actor, "user.password_change_forced", now=now, subject=("user", user.id))
    session.flush()
    return user


def unlock_account(session: Session, username: str, *, now: datetime, actor: Actor) -> User:
    """Unlock an account locked by wrong second-factor codes; the count starts again."""
    user = account_for_update(session, username)
    if user.locked_at is None:
        raise IllegalTransition(f"{user.username} is not locked.")
    failures = user.second_factor_failures
    user.locked_at = None
    user.second_factor_failures = 0
    record_event(
        session,
        actor,
        "user.unlocked",
        now=now,
        subject=("user", user.id),
        detail={"second_factor_failures": failures},
    )
    session.flush()
    return user
