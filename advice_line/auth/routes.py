"""Sign in and out."""

from __future__ import annotations

import hmac
import re
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Response,
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

from advice_line.auth import sessions
from advice_line.auth.forms import MAX_USERNAME, SignInForm, normalise_username
from advice_line.auth.passwords import password_matches
from advice_line.auth.roles import CONSOLE_ROLES
from advice_line.demo import DEMO_PASSWORD
from advice_line.extensions import db, limiter
from advice_line.models import Role, User

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
#: Control codes (tab, CR and LF included: browsers drop them from URLs) and backslashes
#: (browsers read them as slashes): none belongs in a path we send anyone to.
_NOT_IN_A_PATH = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def _home() -> str:
    """Each role's start page: the console, the managers' dashboard or administration."""
    if current_user.role in CONSOLE_ROLES:
        return url_for("console.console")
    if current_user.role == Role.MANAGER:
        return url_for("reports.index")
    return url_for("admin.index")


def _local_path(target: str) -> str | None:
    """Return ``target`` if it can only be a path on this site (as sent and decoded), else None."""
    for text in (target, unquote(target)):
        parts = urlsplit(text)
        if (
            not text.startswith("/")
            or text.startswith("//")
            or _NOT_IN_A_PATH.search(text)
            or parts.scheme
            or parts.netloc
        ):
            return None
    return target


def _is_demo_password(password: str) -> bool:
    """Whether ``password``, already checked against the user's hash, is the demo one."""
    return hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())


def _address_and_username() -> str:
    """Count failed sign-ins per client address and username, cleaned as the lookup cleans it."""
    username = normalise_username(request.form.get("username", ""))[:MAX_USERNAME]
    return f"{get_remote_address()}/{username}"


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _login_limit_off() -> bool:
    return current_app.config["LOGIN_RATE_LIMIT"] is None


def _address_limit() -> str:
    return str(current_app.config["LOGIN_ADDRESS_RATE_LIMIT"])


def _address_limit_off() -> bool:
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"] is None


def _failed(response: Response) -> bool:
    return response.status_code != 302


#: The two sign-in limits, told apart in the 429 page by their messages.
_USERNAME = "for this username from this address"
_ADDRESS = "from this address"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _address_limit,
    key_func=get_remote_address,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=_address_limit_off,
    error_message=_ADDRESS,
)
@limiter.limit(
    _login_limit,
    key_func=_address_and_username,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=_login_limit_off,
    error_message=_USERNAME,
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
