"""The search form (a GET form, read from the query string) and the same-person link form."""

from __future__ import annotations

import re
from typing import Any

from wtforms import Field, IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from advice_line import phones
from advice_line.inputs import CleanForm, DateInputField, parse_reference
from advice_line.lifecycle.errors import InvalidInput
from advice_line.search.queries import Criteria

_COLLAR = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{0,19}")
#: What the search looks for, in the form's order (the page number is not one).
SEARCHED = ("reference", "collar_number", "officer", "phone", "start", "end")


def _stripped(value: str | None) -> str | None:
    return value.strip() if value else value


def _reference(_form: Any, field: Field) -> None:
    if field.data and parse_reference(field.data) is None:
        raise ValidationError("Enter a reference like AL-1234.")


def _phone(_form: Any, field: Field) -> None:
    if field.data:
        try:
            phones.normalise(field.data)
        except InvalidInput:
            raise ValidationError("Enter a UK phone number, like 07700 900123.") from None


class SearchForm(CleanForm):
    """Reference, collar number, officer, phone number, dates; a GET form, so no CSRF."""

    class Meta:
        csrf = False

    reference = StringField(
        "Reference", validators=[Optional(), Length(max=20), _reference], filters=[_stripped]
    )
    collar_number = StringField(
        "Collar number", validators=[Optional(), Length(max=20)], filters=[_stripped]
    )
    officer = StringField(
        "Officer's name", validators=[Optional(), Length(min=2, max=120)], filters=[_stripped]
    )
    phone = StringField(
        "Phone number", validators=[Optional(), Length(max=40), _phone], filters=[_stripped]
    )
    start = DateInputField("Received from")
    end = DateInputField("Received to")
    page = IntegerField("Page", validators=[Optional(), NumberRange(min=1, max=1_000_000)])

    def validate_collar_number(self, field: StringField) -> None:
        """Letters, numbers, spaces and hyphens, as forces write them."""
        if field.data and not _COLLAR.fullmatch(field.data):
            raise ValidationError("Use only letters, numbers, spaces and hyphens.")

    def validate_end(self, field: DateInputField) -> None:
        """The dates run forwards."""
        if self.start.data and field.data and field.data < self.start.data:
            raise ValidationError("Received to must not be before received from.")

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' own checks, and at least one thing to search for."""
        valid = bool(super().validate(extra_validators))
        if valid and not self.given():
            self.reference.errors.append("Enter at least one thing to search for.")
            return False
        return valid

    def given(self) -> dict[str, str]:
        """What was searched for, as typed (the page number aside)."""
        return {name: str(self[name].data) for name in SEARCHED if self[name].data}

    def audited(self) -> dict[str, str]:
        """What was searched for as the audit log keeps it: a number by its last digits."""
        given = self.given()
        if self.phone.data:
            given["phone"] = f"ending {phones.normalise(self.phone.data)[-3:]}"
        return given

    def criteria(self) -> Criteria:
        """The validated form as search criteria."""
        return Criteria(
            request_id=parse_reference(self.reference.data) if self.reference.data else None,
            collar_number=self.collar_number.data or None,
            officer=self.officer.data or None,
            phone=phones.normalise(self.phone.data) if self.phone.data else None,
            start=self.start.data,
            end=self.end.data,
        )


class LinkForm(CleanForm):
    """The earlier request a clinician says concerns the same person."""

    earlier = StringField(
        "Earlier request", validators=[Length(max=20), _reference], filters=[_stripped]
    )

    def validate_earlier(self, field: StringField) -> None:
        """A reference is needed."""
        if not field.data:
            raise ValidationError("Enter the earlier request's reference, like AL-1234.")

    def earlier_id(self) -> int:
        """The validated reference's request id."""
        found = parse_reference(self.earlier.data)
        assert found is not None
        return found
