"""The sign-in form; the username is cleaned by the accounts domain's one rule."""

from __future__ import annotations

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from advice_line.inputs import CleanForm
from advice_line.lifecycle.accounts import MAX_USERNAME, normalise_username

__all__ = ["MAX_USERNAME", "SignInForm", "normalise_username"]


class SignInForm(CleanForm):
    """Username and password, with CSRF protection."""

    username = StringField(
        "Username",
        validators=[DataRequired(), Length(max=MAX_USERNAME)],
        filters=[normalise_username],
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
