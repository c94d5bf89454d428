"""What the password, code and single sign-on steps share: where to go, the code limit."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from flask import Response, current_app
from flask_login import current_user

from advice_line import navigation

#: Control codes (tab, CR and LF included: browsers drop them from URLs) and backslashes
#: (browsers read them as slashes): none belongs in a path we send anyone to.
_NOT_IN_A_PATH = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
#: The per-username limit's message, shown in the 429 page (the code step shares it).
PER_USERNAME = "for this username from this address"


def home() -> str:
    """The signed-in user's start page (``navigation.START``)."""
    return navigation.start_page(current_user.role)


def local_path(target: str) -> str | None:
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


def login_limit() -> str:
    """The per-username limit on failed sign-ins (``LOGIN_RATE_LIMIT``)."""
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def login_limit_off() -> bool:
    """Whether ``LOGIN_RATE_LIMIT`` is switched off."""
    return current_app.config["LOGIN_RATE_LIMIT"] is None


def failed(response: Response) -> bool:
    """Whether a sign-in step failed (it redirects only when it succeeds)."""
    return response.status_code != 302
