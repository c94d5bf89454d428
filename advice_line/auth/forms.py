"""The sign-in forms: password (the username cleaned by the accounts domain's one rule), the
second factor's codes, a new password."""

from __future__ import annotations

from typing import Any

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from advice_line.inputs import CleanForm, without_control_codes
from advice_line.lifecycle.accounts import MAX_USERNAME, normalise_username
from advice_line.lifecycle.second_factor import RECOVERY_CODE, TOTP_CODE

__all__ = ["MAX_USERNAME", "SignInForm", "normalise_username"]


class SignInForm(CleanForm):
    """Username and password, with CSRF protection."""

    username = StringField(
        "Username",
        validators=[DataRequired(), Length(max=MAX_USERNAME)],
        filters=[normalise_username],
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _code_text(value: Any) -> str:
    """A code as typed: spaces dropped (apps show ``123 456``), letters in lower case."""
    return str(without_control_codes(value)).replace(" ", "").strip().lower() if value else ""


class CodeForm(CleanForm):
    """A six-digit code from the authenticator app, or a recovery code."""

    code = StringField(
        "Code",
        validators=[DataRequired(message="Type the code."), Length(max=11)],
        filters=[_code_text],
    )

    def validate_code(self, field: Any) -> None:
        """Only the two shapes a code can have (any other is not counted as a wrong code)."""
        if not (TOTP_CODE.fullmatch(field.data) or RECOVERY_CODE.fullmatch(field.data)):
            raise ValidationError(
                "Type the 6 digits your authenticator app shows, or one of your recovery codes."
            )


class EnrolForm(CleanForm):
    """The first code from the authenticator app, confirming it is set up."""

    code = StringField(
        "Code from your app",
        validators=[DataRequired(message="Type the code."), Length(max=11)],
        filters=[_code_text],
    )

    def validate_code(self, field: Any) -> None:
        """Six digits."""
        if not TOTP_CODE.fullmatch(field.data):
            raise ValidationError("Type the 6 digits your authenticator app shows.")


class NewPasswordForm(CleanForm):
    """A new password, typed twice."""

    password = PasswordField("New password", validators=[DataRequired(), Length(max=200)])
    confirmation = PasswordField("New password again", validators=[DataRequired(), Length(max=200)])
