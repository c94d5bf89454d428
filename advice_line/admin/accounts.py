"""Staff accounts in the browser: the list, a new account, and each account's actions.

Thin over ``lifecycle.accounts``: each action is one domain step run through
``transaction.run`` as the signed-in admin; a refusal shows the account page again with
the reason (400) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo

from advice_line import lifecycle
from advice_line.admin.routes import bp, section
from advice_line.auth.passwords import hash_password
from advice_line.auth.sessions import end_users_sockets
from advice_line.extensions import db
from advice_line.inputs import CleanForm
from advice_line.lifecycle.accounts import MIN_PASSWORD, ROLE_NAMES
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.models import Role, User, UserSession
from advice_line.transaction import Work, run, signed_in_actor

ROLE_CHOICES = [SelectChoice(role.value, ROLE_NAMES[role].capitalize()) for role in Role]
PASSWORD_HINT = f"At least {MIN_PASSWORD} characters; they must change it at first sign-in."


class PasswordFields(CleanForm):
    """A temporary password, typed twice."""

    password = PasswordField("Temporary password", description=PASSWORD_HINT)
    confirm = PasswordField(
        "Temporary password again", validators=[EqualTo("password", "The passwords differ.")]
    )


class CreateAccountForm(PasswordFields):
    """A new staff account (the domain checks every field)."""

    username = StringField("Username")
    display_name = StringField("Name")
    role = SelectField("Role", choices=ROLE_CHOICES, validate_choice=False)


class RoleForm(CleanForm):
    """Another role for an account."""

    role = SelectField("Role", choices=ROLE_CHOICES, validate_choice=False)


class DeactivateForm(CleanForm):
    """Deactivation, confirmed."""

    understood = BooleanField(
        "I understand they will be signed out everywhere and cannot sign in until reactivated",
        validators=[DataRequired("Tick the box to confirm the deactivation.")],
    )


class ActionForm(CleanForm):
    """An action that needs nothing but the CSRF token."""


@dataclass(frozen=True)
class AccountRow:
    """One account as the list shows it."""

    user: User
    last_sign_in: datetime | None


def _rows() -> list[AccountRow]:
    last = (
        select(UserSession.user_id, func.max(UserSession.started_at).label("at"))
        .group_by(UserSession.user_id)
        .subquery()
    )
    found = db.session.execute(
        select(User, last.c.at).outerjoin(last, last.c.user_id == User.id).order_by(User.username)
    ).all()
    return [AccountRow(user, at) for user, at in found]


@bp.get("/accounts")
@section(
    "Staff accounts",
    "Create staff accounts, change roles, deactivate, reset passwords, unlock.",
    order=10,
)
def accounts() -> str:
    """Every staff account, with its role, state and last sign-in."""
    return render_template("admin/accounts.html", rows=_rows(), role_names=ROLE_NAMES)


def _show_errors(form: CleanForm, error: DomainError) -> None:
    if isinstance(error, InvalidInput):
        for field, message in error.errors.items():
            getattr(form, field).errors.append(message)
    else:
        form.form_errors.append(str(error))


@bp.route("/accounts/new", methods=["GET", "POST"])
def new_account() -> ResponseReturnValue:
    """Create a staff account with a temporary password."""
    form = CreateAccountForm()
    if not form.is_submitted():
        return render_template("admin/account_new.html", form=form)
    if not form.validate():
        if form.csrf_token.errors:
            abort(400)
        return render_template("admin/account_new.html", form=form), 400
    new = lifecycle.NewAccount(
        form.username.data or "",
        form.display_name.data or "",
        form.role.data or "",
        form.password.data or "",
    )

    def create(work: Work) -> ResponseReturnValue:
        user = lifecycle.create_account(
            work.session, new, hasher=hash_password, now=work.now, actor=work.actor
        )
        work.tell(f"{user.username} can sign in with the temporary password, then must change it.")
        if user.role in lifecycle.CONSOLE_ROLES:
            work.tell("Now record their profession, registration, skills and phone.")
            return redirect(url_for("admin.clinician", user_id=user.id))
        return redirect(url_for("admin.account", user_id=user.id))

    def refused(error: DomainError) -> ResponseReturnValue:
        _show_errors(form, error)
        return render_template("admin/account_new.html", form=form), 400

    return run(create, signed_in_actor(), refused)


def _account_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _account_page(user: User, code: int = 200, **forms: CleanForm) -> ResponseReturnValue:
    last = db.session.scalar(
        select(func.max(UserSession.started_at)).where(UserSession.user_id == user.id)
    )
    role_form = forms.get("role_form") or RoleForm(formdata=None, role=user.role.value)
    page = render_template(
        "admin/account.html",
        account=user,
        role_names=ROLE_NAMES,
        last_sign_in=last,
        role_form=role_form,
        deactivate_form=forms.get("deactivate_form") or DeactivateForm(formdata=None),
        password_form=forms.get("password_form") or PasswordFields(formdata=None),
        action_form=forms.get("action_form") or ActionForm(formdata=None),
    )
    return page, code


@bp.get("/accounts/<int:user_id>")
def account(user_id: int) -> ResponseReturnValue:
    """One account: its state, and a form for each thing an admin may do to it."""
    return _account_page(_account_or_404(user_id))


def _act(
    user_id: int,
    form: CleanForm,
    name: str,
    done: str,
    action: Callable[..., Any],
    *args: Any,
    end_sockets: bool = False,
    **kwargs: Any,
) -> ResponseReturnValue:
    """Run one account action, ``action(session, username, *args, now=..., actor=...)``,
    from its form; the page again with the reason if refused."""
    user = _account_or_404(user_id)
    username = user.username
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _account_page(user, 400, **{name: form})

    def act(work: Work) -> ResponseReturnValue:
        action(work.session, username, *args, now=work.now, actor=work.actor, **kwargs)
        work.tell(done.format(username=username))
        return redirect(url_for("admin.account", user_id=user_id))

    def refused(error: DomainError) -> ResponseReturnValue:
        _show_errors(form, error)
        return _account_page(_account_or_404(user_id), 400, **{name: form})

    response = run(act, signed_in_actor(), refused)
    if end_sockets and isinstance(response, Response) and response.status_code == 302:
        end_users_sockets(user_id)
    return response


@bp.post("/accounts/<int:user_id>/role")
def change_role(user_id: int) -> ResponseReturnValue:
    """Give the account another role (its consoles close if it leaves them)."""
    form = RoleForm()
    role = form.role.data or ""
    return _act(
        user_id,
        form,
        "role_form",
        "{username}'s role is changed.",
        lifecycle.change_role,
        role,
        end_sockets=True,
    )


@bp.post("/accounts/<int:user_id>/deactivate")
def deactivate(user_id: int) -> ResponseReturnValue:
    """Deactivate the account: its sessions and open consoles end now."""
    return _act(
        user_id,
        DeactivateForm(),
        "deactivate_form",
        "{username} is deactivated; their sessions have ended.",
        lifecycle.deactivate_account,
        end_sockets=True,
    )


@bp.post("/accounts/<int:user_id>/reactivate")
def reactivate(user_id: int) -> ResponseReturnValue:
    """Let a deactivated account sign in again."""
    return _act(
        user_id,
        ActionForm(),
        "action_form",
        "{username} can sign in again.",
        lifecycle.reactivate_account,
    )


@bp.post("/accounts/<int:user_id>/password")
def reset_password(user_id: int) -> ResponseReturnValue:
    """Set a temporary password; the account's sessions end and it must choose its own."""
    form = PasswordFields()
    password = form.password.data or ""
    return _act(
        user_id,
        form,
        "password_form",
        "{username}'s password is reset; they must change it at their next sign-in.",
        lifecycle.reset_password,
        password,
        hasher=hash_password,
        end_sockets=True,
    )


@bp.post("/accounts/<int:user_id>/force-change")
def force_change(user_id: int) -> ResponseReturnValue:
    """Make the account choose a new password at its next sign-in."""
    return _act(
        user_id,
        ActionForm(),
        "action_form",
        "{username} must choose a new password at their next sign-in.",
        lifecycle.force_password_change,
    )


@bp.post("/accounts/<int:user_id>/unlock")
def unlock(user_id: int) -> ResponseReturnValue:
    """Unlock an account locked by wrong second-factor codes."""
    return _act(
        user_id,
        ActionForm(),
        "action_form",
        "{username} is unlocked.",
        lifecycle.unlock_account,
    )
