"""Sign in and out."""

from __future__ import annotations

import hmac

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user

from advice_line.auth import sessions, signing_in
from advice_line.auth.forms import MAX_USERNAME, SignInForm, normalise_username
from advice_line.auth.passwords import password_matches
from advice_line.demo import DEMO_PASSWORD
from advice_line.extensions import db, limiter
from advice_line.models import User

bp = Blueprint("auth", __name__, template_folder="templates")
# Compared against when the username is unknown, so both paths take the same time.
_NO_SUCH_USER = "scrypt:32768:8:1$0000000000000000$" + "0" * 128
#: Demo accounts carry a password published in the repository: production refuses it.
DEMO_SIGN_IN_REFUSED = (
    "This account still has the demo password, which is not accepted here. "
    "Ask an administrator to reset it."
)
ACCOUNT_LOCKED = (
    "This account is locked after too many wrong codes. Ask an administrator to unlock it."
)


def _is_demo_password(password: str) -> bool:
    """Whether ``password``, already checked against the user's hash, is the demo one."""
    return hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())


def _address_and_username() -> str:
    """Count failed sign-ins per client address and username, cleaned as the lookup cleans it."""
    username = normalise_username(request.form.get("username", ""))[:MAX_USERNAME]
    return f"{get_remote_address()}/{username}"


def _address_limit() -> str:
    return str(current_app.config["LOGIN_ADDRESS_RATE_LIMIT"])


def _address_limit_off() -> bool:
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"] is None


#: The two sign-in limits, told apart in the 429 page by their messages.
_ADDRESS = "from this address"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _address_limit,
    key_func=get_remote_address,
    methods=["POST"],
    deduct_when=signing_in.failed,
    exempt_when=_address_limit_off,
    error_message=_ADDRESS,
)
@limiter.limit(
    signing_in.login_limit,
    key_func=_address_and_username,
    methods=["POST"],
    deduct_when=signing_in.failed,
    exempt_when=signing_in.login_limit_off,
    error_message=signing_in.PER_USERNAME,
)
def login() -> ResponseReturnValue:
    """Sign in with username and password."""
    form = SignInForm()
    if form.validate_on_submit():
        user = db.session.scalar(db.select(User).where(User.username == form.username.data))
        hashed = user.password_hash if user is not None else _NO_SUCH_USER
        password = form.password.data or ""
        if not (password_matches(hashed, password) and user and user.active):
            form.password.errors.append("Username or password is not right.")
        elif _is_demo_password(password) and current_app.config["ADVICE_LINE_MODE"] != "demo":
            form.password.errors.append(DEMO_SIGN_IN_REFUSED)
        elif user.locked_at is not None:
            form.password.errors.append(ACCOUNT_LOCKED)
        else:
            return second_factor.begin(user, request.args.get("next", ""))
    return sign_in_page(form, 200 if request.method == "GET" else 400)


def sign_in_page(form: SignInForm, status: int, problem: str | None = None) -> ResponseReturnValue:
    """The sign-in page: the password form, a button per single sign-on provider, a problem."""
    providers = {
        name: provider["label"] for name, provider in current_app.config["OIDC_PROVIDERS"].items()
    }
    return render_template(
        "auth/login.html", form=form, providers=providers, problem=problem
    ), status


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(error: RateLimitExceeded) -> ResponseReturnValue:
    """Show the sign-in page with a plain explanation (429) instead of signing in."""
    form = SignInForm()
    form.password.errors = [
        f"Too many failed sign-ins {error.description} (the limit is {error.limit.limit}). "
        "Wait, then try again, or sign in from another network: "
        "a limit holds only the address that failed."
    ]
    return sign_in_page(form, 429)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (POST with the CSRF token): every copy of the session ends, and its sockets."""
    if current_user.is_authenticated:
        sessions.sign_out(current_user._get_current_object())
    else:
        session.clear()
    return redirect(url_for("auth.login"))


from advice_line.auth import second_factor, sso  # noqa: E402,F401  (their views join bp)
