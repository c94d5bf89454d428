"""The sign-in form, and the one way a username is cleaned."""

from __future__ import annotations

import unicodedata
from typing import Any

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from advice_line.inputs import CleanForm, without_control_codes

MAX_USERNAME = 80


def normalise_username(value: Any) -> str:
    """The username as looked up and as the sign-in limits count it.

    Compatibility forms folded (NFKC), control codes dropped, spaces trimmed, lower case:
    ``ben\\x01``, `` Ben `` and a full-width ``ben`` are all ``ben``,
    for the lookup and the limit alike.
    """
    text = value if isinstance(value, str) else ""
    return str(without_control_codes(unicodedata.normalize("NFKC", text))).strip().lower()


class SignInForm(CleanForm):
    """Username and password, with CSRF protection."""

    username = StringField(
        "Username",
        validators=[DataRequired(), Length(max=MAX_USERNAME)],
        filters=[normalise_username],
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
