"""``flask staff``: staff accounts from the command line, for scripts and the first admin.

Passwords are read from a prompt (typed twice, not echoed) or, with ``--password-stdin``,
from the first line of standard input; never from an argument, which ``ps`` and shell
history would show. Each command is one domain step, audited as ``flask staff <command>``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from advice_line import lifecycle
from advice_line.admin.routes import bp
from advice_line.audit import Actor
from advice_line.auth.passwords import hash_password
from advice_line.auth.sessions import end_users_sockets
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle.accounts import MIN_PASSWORD, ROLE_NAMES
from advice_line.lifecycle.errors import DomainError
from advice_line.models import Role, User, UserSession

ROLE_HELP = "One of: " + ", ".join(role.value for role in Role) + "."
password_stdin = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(
        click.prompt(
            f"Temporary password (at least {MIN_PASSWORD} characters)",
            hide_input=True,
            confirmation_prompt="Again",
        )
    )


def _apply(command: str, step: Callable[[Any, Actor], User]) -> User:
    """Run one step as ``flask <command>`` and commit; a refusal exits 1, nothing stored."""
    session = db.session()
    try:
        user = step(session, Actor("system", source=f"flask {command}"))
    except DomainError as refused:
        session.rollback()
        raise click.ClickException(str(refused)) from None
    session.commit()
    return user


@bp.cli.group("staff")
def staff() -> None:
    """Staff accounts: create, set-role, deactivate, reactivate, reset-password, ..."""


@staff.command("create")
@click.argument("username")
@click.option("--name", "display_name", help="The person's name (default: the username).")
@click.option("--role", required=True, help=f"What the account may do. {ROLE_HELP}")
@password_stdin
def create(username: str, display_name: str | None, role: str, password_stdin: bool) -> None:
    """Create an account with a temporary password, to be changed at first sign-in."""
    new = lifecycle.NewAccount(username, display_name or username, role, _password(password_stdin))
    user = _apply(
        "staff create",
        lambda session, actor: lifecycle.create_account(
            session, new, hasher=hash_password, now=utcnow(), actor=actor
        ),
    )
    click.echo(
        f"{user.username} ({ROLE_NAMES[user.role]}) is created; "
        "they must change the password at first sign-in."
    )


@staff.command("set-role")
@click.argument("username")
@click.argument("role")
def set_role(username: str, role: str) -> None:
    """Give an account another role: clinician, senior_clinician, manager or admin."""
    user = _apply(
        "staff set-role",
        lambda session, actor: lifecycle.change_role(
            session, username, role, now=utcnow(), actor=actor
        ),
    )
    end_users_sockets(user.id)
    click.echo(f"{user.username} is now a {ROLE_NAMES[user.role]}.")


def _deactivate(username: str, command: str) -> None:
    user = _apply(
        command,
        lambda session, actor: lifecycle.deactivate_account(
            session, username, now=utcnow(), actor=actor
        ),
    )
    end_users_sockets(user.id)
    click.echo(f"{user.username} is deactivated; their sessions have ended.")


@staff.command("deactivate")
@click.argument("username")
def deactivate(username: str) -> None:
    """No more sign-ins; the account's sessions and open consoles end now."""
    _deactivate(username, "staff deactivate")


@bp.cli.command("deactivate-user")
@click.argument("username")
def deactivate_user(username: str) -> None:
    """The same as ``flask staff deactivate``."""
    _deactivate(username, "deactivate-user")


@staff.command("reactivate")
@click.argument("username")
def reactivate(username: str) -> None:
    """Let a deactivated account sign in again."""
    user = _apply(
        "staff reactivate",
        lambda session, actor: lifecycle.reactivate_account(
            session, username, now=utcnow(), actor=actor
        ),
    )
    click.echo(f"{user.username} can sign in again.")


@staff.command("reset-password")
@click.argument("username")
@password_stdin
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a temporary password (to be changed at next sign-in); sessions end now."""
    password = _password(password_stdin)
    user = _apply(
        "staff reset-password",
        lambda session, actor: lifecycle.reset_password(
            session, username, password, hasher=hash_password, now=utcnow(), actor=actor
        ),
    )
    end_users_sockets(user.id)
    click.echo(f"{user.username}'s password is reset; they must change it at next sign-in.")


@staff.command("force-change")
@click.argument("username")
def force_change(username: str) -> None:
    """Make the account choose a new password at its next sign-in."""
    user = _apply(
        "staff force-change",
        lambda session, actor: lifecycle.force_password_change(
            session, username, now=utcnow(), actor=actor
        ),
    )
    click.echo(f"{user.username} must choose a new password at next sign-in.")


@staff.command("unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Unlock an account locked by wrong second-factor codes."""
    user = _apply(
        "staff unlock",
        lambda session, actor: lifecycle.unlock_account(
            session, username, now=utcnow(), actor=actor
        ),
    )
    click.echo(f"{user.username} is unlocked.")


@staff.command("list")
def list_accounts() -> None:
    """Every account: username, role, state, last sign-in (UTC)."""
    session = db.session()
    last = dict(
        session.execute(
            db.select(UserSession.user_id, db.func.max(UserSession.started_at)).group_by(
                UserSession.user_id
            )
        ).all()
    )
    for user in session.scalars(db.select(User).order_by(User.username)):
        state = [
            "active" if user.active else "deactivated",
            *(["locked"] if user.locked_at else []),
            *(["must change password"] if user.must_change_password else []),
            "second factor" if user.totp_confirmed_at else "no second factor",
        ]
        seen = last.get(user.id)
        signed_in = seen.strftime("%Y-%m-%d %H:%M UTC") if seen else "never signed in"
        click.echo(
            f"{user.username:<20} {user.role.value:<17} {', '.join(state)}; {signed_in}; "
            f"{user.display_name}"
        )
