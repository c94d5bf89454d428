"""An account's second factor and single sign-on identity: reset one, link the other.

In the browser: two POST actions (and a page showing them for one account; the staff
account page includes ``admin/_second_factor.html``). On the command line:
``flask staff reset-second-factor USERNAME`` and ``flask staff sso-identity USERNAME VALUE``
(``--clear`` to unlink). Every change is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import HiddenField, StringField
from wtforms.validators import Length

from advice_line.admin.routes import bp
from advice_line.admin.staff_cli import staff
from advice_line.audit import Actor
from advice_line.auth.signing_in import local_path
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.inputs import CleanForm
from advice_line.lifecycle import second_factor as factor
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.models import User
from advice_line.transaction import Work, run, signed_in_actor


def _plain(error: DomainError) -> str:
    return "; ".join(error.errors.values()) if isinstance(error, InvalidInput) else str(error)


class ResetSecondFactorForm(CleanForm):
    """Only the CSRF token, and where to go back to."""

    back = HiddenField()


class SsoIdentityForm(CleanForm):
    """The identity provider's value for this account; blank unlinks it."""

    back = HiddenField()
    sso_identity = StringField("Single sign-on identity", validators=[Length(max=255)])


def _account(user_id: int) -> User:
    account = db.session.get(User, user_id)
    if account is None:
        abort(404)
    return account


def _page(account: User, status: int, **forms: Any) -> ResponseReturnValue:
    return render_template("admin/second_factor.html", account=account, **forms), status


def _back(form: Any, account: User) -> ResponseReturnValue:
    target = local_path(form.back.data or "")
    return redirect(target or url_for("admin.second_factor", user_id=account.id))


@bp.context_processor
def second_factor_partial() -> dict[str, Any]:
    """Let the account page's partial count an account's recovery codes and build its forms."""
    return {
        "recovery_codes_left": lambda account: factor.recovery_codes_left(db.session(), account.id),
        "second_factor_forms": lambda account: (
            ResetSecondFactorForm(formdata=None, back=request.path),
            SsoIdentityForm(formdata=None, back=request.path, sso_identity=account.sso_identity),
        ),
    }


@bp.get("/accounts/<int:user_id>/second-factor")
def second_factor(user_id: int) -> ResponseReturnValue:
    """One account's second factor and single sign-on identity."""
    return _page(_account(user_id), 200)


@bp.post("/accounts/<int:user_id>/second-factor/reset")
def reset_second_factor(user_id: int) -> ResponseReturnValue:
    """Clear the account's authenticator and recovery codes: it sets them up again."""
    form = ResetSecondFactorForm()
    return _change(
        user_id,
        form,
        lambda work, username: factor.reset_second_factor(
            work.session, work.actor, username, now=work.now
        ),
        "{username}'s second factor is reset: they set it up again at their next sign-in.",
        refused=form.form_errors.append,
        page_form="reset_form",
    )


@bp.post("/accounts/<int:user_id>/sso-identity")
def set_sso_identity(user_id: int) -> ResponseReturnValue:
    """Link the account to an identity provider's value (blank: unlink it)."""
    form = SsoIdentityForm()
    return _change(
        user_id,
        form,
        lambda work, username: factor.set_sso_identity(
            work.session, work.actor, username, form.sso_identity.data, now=work.now
        ),
        "{username}'s single sign-on identity is saved.",
        refused=lambda problem: setattr(form.sso_identity, "errors", [problem]),
        page_form="sso_form",
    )


def _change(
    user_id: int,
    form: ResetSecondFactorForm | SsoIdentityForm,
    step: Callable[[Work, str], object],
    done: str,
    *,
    refused: Callable[[str], object],
    page_form: str,
) -> ResponseReturnValue:
    """Check the form, run one change to the account, then go back with ``done`` flashed;
    an invalid form or a refusal (told through ``refused``) shows the page again, 400."""
    account = _account(user_id)
    if form.validate_on_submit():
        refusals: list[DomainError] = []
        username = account.username
        run(lambda work: step(work, username), signed_in_actor(), refusals.append)
        if not refusals:
            flash(done.format(username=username))
            return _back(form, account)
        refused(_plain(refusals[0]))
    return _page(account, 400, **{page_form: form})


@click.command("reset-second-factor")
@click.argument("username")
def reset_second_factor_command(username: str) -> None:
    """Clear a staff account's authenticator and recovery codes (it enrols again)."""
    _cli_step(
        lambda session, actor, now: factor.reset_second_factor(session, actor, username, now=now),
        "flask staff reset-second-factor",
    )
    click.echo(f"{username}'s second factor is reset: they set it up again at next sign-in.")


@click.command("sso-identity")
@click.argument("username")
@click.argument("value", required=False)
@click.option("--clear", is_flag=True, help="Unlink the account from single sign-on.")
def sso_identity_command(username: str, value: str | None, clear: bool) -> None:
    """Link a staff account to the identity provider's claim VALUE (or --clear it)."""
    if clear == (value is not None):
        raise click.ClickException("Give either a VALUE or --clear.")
    _cli_step(
        lambda session, actor, now: factor.set_sso_identity(
            session, actor, username, value, now=now
        ),
        "flask staff sso-identity",
    )
    click.echo(f"{username} is {'linked to ' + repr(value) if value else 'unlinked'}.")


def _cli_step(step: Any, source: str) -> None:
    """Run a step as the system, committed whole or not at all."""
    try:
        step(db.session(), Actor("system", source=source), utcnow())
    except DomainError as refused:
        db.session.rollback()
        raise click.ClickException(_plain(refused)) from None
    db.session.commit()


for _command in (reset_second_factor_command, sso_identity_command):
    staff.add_command(_command)
