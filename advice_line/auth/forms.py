"""The sign-in form."""

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from advice_line.inputs import CleanForm


class SignInForm(CleanForm):
    """Username and password, with CSRF protection."""

    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
