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
from advice_line.admin.cli import run_command
from advice_line.admin.routes import bp
from advice_line.auth.passwords import hash_password
from advice_line.auth.sessions import end_users_sockets
from advice_line.extensions import db
from advice_line.lifecycle.accounts import MIN_PASSWORD, ROLE_NAMES
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


def _step(command: str, action: Callable[..., User], *args: Any, **kwargs: Any) -> User:
    """Run ``action(session, *args, now=..., actor=...)`` on an account as ``flask <command>``."""
    return run_command(
        command,
        lambda work: action(work.session, *args, now=work.now, actor=work.actor, **kwargs),
    )


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
    user = _step("staff create", lifecycle.create_account, new, hasher=hash_password)
    click.echo(
        f"{user.username} ({ROLE_NAMES[user.role]}) is created; "
        "they must change the password at first sign-in."
    )


@staff.command("set-role")
@click.argument("username")
@click.argument("role")
def set_role(username: str, role: str) -> None:
    """Give an account another role: clinician, senior_clinician, manager or admin."""
    user = _step("staff set-role", lifecycle.change_role, username, role)
    end_users_sockets(user.id)
    click.echo(f"{user.username} is now a {ROLE_NAMES[user.role]}.")


def _deactivate(username: str, command: str) -> None:
    user = _step(command, lifecycle.deactivate_account, username)
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
    user = _step("staff reactivate", lifecycle.reactivate_account, username)
    click.echo(f"{user.username} can sign in again.")


@staff.command("reset-password")
@click.argument("username")
@password_stdin
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a temporary password (to be changed at next sign-in); sessions end now."""
    password = _password(password_stdin)
    user = _step(
        "staff reset-password", lifecycle.reset_password, username, password, hasher=hash_password
    )
    end_users_sockets(user.id)
    click.echo(f"{user.username}'s password is reset; they must change it at next sign-in.")


@staff.command("force-change")
@click.argument("username")
def force_change(username: str) -> None:
    """Make the account choose a new password at its next sign-in."""
    user = _step("staff force-change", lifecycle.force_password_change, username)
    click.echo(f"{user.username} must choose a new password at next sign-in.")


@staff.command("unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Unlock an account locked by wrong second-factor codes."""
    user = _step("staff unlock", lifecycle.unlock_account, username)
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
