"""The steps between a right password and a session: a forced change, then the second factor.

A right password only makes the browser "half signed in": the signed Flask session holds
the account's id and when the password was given, and nothing else. There is no
``user_session`` row yet, so the user loader lets no page, API or socket in; the half
state lasts ``HALF_MINUTES``. Each step sends the user to the next one, and the last
starts the session (``sessions.sign_in``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from markupsafe import Markup
from segno import make_qr
from werkzeug.security import generate_password_hash
from werkzeug.wrappers import Response

from advice_line.audit import Actor
from advice_line.auth import sessions
from advice_line.auth.forms import CodeForm, EnrolForm, NewPasswordForm
from advice_line.auth.roles import Staff
from advice_line.auth.routes import bp
from advice_line.auth.signing_in import (
    PER_USERNAME,
    failed,
    home,
    local_path,
    login_limit,
    login_limit_off,
)
from advice_line.clock import utcnow
from advice_line.demo import DEMO_PASSWORD
from advice_line.extensions import db, limiter
from advice_line.lifecycle import second_factor as factor
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.models import User
from advice_line.transaction import run

#: Where the Flask session keeps the half-signed-in state.
HALF = "half_signed_in"
HALF_MINUTES = 5
LOCKED = (
    "Too many wrong codes: this account is now locked. "
    "Ask an administrator to unlock it before you sign in again."
)
STARTED_AGAIN = "Sign in again: it took more than 5 minutes, or was not started here."


def begin(user: User, next_path: str) -> Response:
    """The password was right: forget any earlier session, and go to the next step."""
    session.clear()
    session[HALF] = {"user": user.id, "since": utcnow().timestamp(), "next": next_path}
    return proceed(user)


def _half_user() -> User | None:
    """The half-signed-in account, while the state is young and the account may sign in."""
    state = session.get(HALF)
    if not isinstance(state, dict):
        return None
    user_id, since = state.get("user"), state.get("since")
    if not isinstance(user_id, int) or not isinstance(since, (int, float)):
        return None
    if utcnow().timestamp() - since > HALF_MINUTES * 60:
        session.pop(HALF, None)
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.locked_at is not None:
        session.pop(HALF, None)
        return None
    return user


def half_signed_in(view: Callable[[User], ResponseReturnValue]) -> Callable[[], Any]:
    """Run the view for the half-signed-in account; anyone else goes back to sign-in."""

    @functools.wraps(view)
    def checked() -> ResponseReturnValue:
        user = _half_user()
        if user is None:
            flash(STARTED_AGAIN, "info")
            return redirect(url_for("auth.login"))
        return view(user)

    return checked


def proceed(user: User) -> Response:
    """The account's next step, or the session when there is none left."""
    if user.must_change_password:
        return redirect(url_for("auth.new_password"))
    if factor.second_factor_needed(user, required=current_app.config["SECOND_FACTOR_REQUIRED"]):
        if user.totp_confirmed_at is None:
            return redirect(url_for("auth.enrol"))
        return redirect(url_for("auth.second_factor"))
    return redirect(_sign_in(user))


def _sign_in(user: User) -> str:
    """Start the session; return where the user was going, or their start page."""
    state = session.get(HALF) or {}
    next_path = state.get("next", "") if isinstance(state, dict) else ""
    staff = Staff.load(str(user.id))
    assert staff is not None
    sessions.sign_in(staff)
    return local_path(next_path) or home()


def _actor(user: User) -> Actor:
    return Actor("user", user.id, request.remote_addr)


def _show_errors(form: Any, error: DomainError) -> None:
    problems = error.errors if isinstance(error, InvalidInput) else {"code": str(error)}
    for name, message in problems.items():
        field = getattr(form, name, None) or next(iter(form))
        field.errors = [*field.errors, message]


@bp.route("/login/new-password", methods=["GET", "POST"])
@half_signed_in
def new_password(user: User) -> ResponseReturnValue:
    """Choose a new password (an admin set this account's password, or asked for a change)."""
    if not user.must_change_password:
        return proceed(user)
    form = NewPasswordForm()
    if form.validate_on_submit():
        refused: list[DomainError] = []
        run(
            lambda work: factor.change_own_password(
                work.session,
                work.actor,
                user.id,
                form.password.data,
                form.confirmation.data,
                refused=DEMO_PASSWORD,
                hashed=generate_password_hash,
                now=work.now,
            ),
            _actor(user),
            refused.append,
        )
        if not refused:
            return proceed(user)
        _show_errors(form, refused[0])
    status = 200 if request.method == "GET" else 400
    return render_template("auth/new_password.html", form=form), status


@bp.route("/login/set-up-second-factor", methods=["GET", "POST"])
@half_signed_in
def enrol(user: User) -> ResponseReturnValue:
    """Set up an authenticator app: its QR code and secret, then a first code to confirm."""
    if user.must_change_password or user.totp_confirmed_at is not None:
        return proceed(user)
    form = EnrolForm()
    if form.validate_on_submit():
        codes = run(
            lambda work: factor.confirm_enrolment(
                work.session, work.actor, user.id, form.code.data, now=work.now
            ),
            _actor(user),
        )
        if codes is not None:
            target = _sign_in(user)
            return render_template("auth/recovery_codes.html", codes=codes, target=target)
        form.code.errors.append("That code is not right. Check the app's clock, and try again.")
    secret = run(lambda work: factor.start_enrolment(work.session, user.id), _actor(user))
    qr = make_qr(factor.provisioning_uri(user), error="m")
    svg = Markup(qr.svg_inline(scale=4, title="QR code for your authenticator app"))  # noqa: S704
    status = 200 if request.method == "GET" else 400
    return render_template("auth/enrol.html", form=form, secret=secret, qr=svg), status


def _code_key() -> str:
    """Count wrong codes per client address and half-signed-in account."""
    state = session.get(HALF)
    user = state.get("user") if isinstance(state, dict) else None
    return f"code/{get_remote_address()}/{user}"


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(
    login_limit,
    key_func=_code_key,
    methods=["POST"],
    deduct_when=failed,
    exempt_when=login_limit_off,
    error_message=PER_USERNAME,
)
@half_signed_in
def second_factor(user: User) -> ResponseReturnValue:
    """Type the code from the authenticator app, or a recovery code."""
    if user.must_change_password or user.totp_confirmed_at is None:
        return proceed(user)
    form = CodeForm()
    if form.validate_on_submit():
        check = run(
            lambda work: factor.check_code(
                work.session, work.actor, user.id, form.code.data, now=work.now
            ),
            _actor(user),
        )
        if check is factor.CodeCheck.ACCEPTED:
            return redirect(_sign_in(user))
        if check is factor.CodeCheck.LOCKED:
            session.pop(HALF, None)
            return render_template("auth/locked.html", message=LOCKED), 403
        left = factor.MAX_FAILURES - user.second_factor_failures
        form.code.errors.append(
            f"That code is not right, or was used already. {left} more wrong "
            f"code{'s' if left != 1 else ''} will lock the account."
        )
    status = 200 if request.method == "GET" else 400
    return render_template("auth/code.html", form=form), status
