"""Input from outside, checked at the edge: row ids, text without control codes, dates."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from werkzeug.routing import IntegerConverter, Map
from wtforms import Field, Form
from wtforms.fields.core import UnboundField
from wtforms.utils import unset_value
from wtforms.validators import InputRequired

from advice_line.text import CONTROL_CODES, without_control_codes

__all__ = [
    "CONTROL_CODES",
    "CleanForm",
    "DateInputField",
    "IdConverter",
    "parse_id",
    "parse_reference",
    "without_control_codes",
]

MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
_REFERENCE = re.compile(r"(?:AL[\s-]*)?([0-9]{1,10})", re.IGNORECASE)


def parse_id(text: str) -> int | None:
    """Return the row id ``text`` names, or None when it cannot name one."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def parse_reference(text: str) -> int | None:
    """Return the request id a reference such as ``AL-1234`` (or ``al 1234``) names."""
    match = _REFERENCE.fullmatch(text.strip())
    return parse_id(match.group(1)) if match else None


class IdConverter(IntegerConverter):
    """``<int:...>`` in URLs, limited to ids a row can have (any other number is a 404)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class CleanForm(FlaskForm):  # type: ignore[misc]
    """A form whose every field drops control codes from what was sent."""

    class Meta:
        def bind_field(self, form: Form, unbound_field: UnboundField, options: Any) -> Field:
            """Bind the field with ``without_control_codes`` before its own filters."""
            filters = [without_control_codes, *unbound_field.kwargs.get("filters", ())]
            return unbound_field.bind(form=form, **{**options, "filters": filters})


class DateInputField(Field):  # type: ignore[misc]
    """A date typed as day, month and year (NHS.UK's date input, macro ``date_input``).

    The boxes are sent as ``<name>-day``, ``<name>-month`` and ``<name>-year``; a link or a
    script may give the whole date as ``<name>=YYYY-MM-DD`` (or ``DD/MM/YYYY``) instead.
    A date that does not exist (31 February) or a missing part is refused in words, naming
    the field by its label.
    """

    PARTS = ("day", "month", "year")

    def __init__(self, label: str, validators: Any = None, **kwargs: Any) -> None:
        """A required date left empty says which date to enter, not WTForms' default words."""
        name = re.sub(r"\s*\(.*\)$", "", label)
        worded = [
            InputRequired(f"{name} must include a day, a month and a year.")
            if isinstance(rule, InputRequired) and rule.message is None
            else rule
            for rule in validators or ()
        ]
        super().__init__(label, worded, **kwargs)

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        """Read the three boxes (or the ISO date), keeping what was typed to show again."""
        self.process_errors: list[str] = []
        if data is unset_value:
            data = self.default() if callable(self.default) else self.default
        self.object_data = data
        self.data = data
        self.raw_data: list[str] = []
        self.parts = _parts_of(data)
        if formdata is None:
            return
        typed = tuple(str(formdata.get(f"{self.name}-{part}", "")).strip() for part in self.PARTS)
        whole = str(formdata.get(self.name, "")).strip()
        if any(typed):
            self.raw_data = ["-".join(typed)]
        elif whole:
            self.raw_data = [whole]
            iso, british = whole.split("-"), whole.split("/")
            if len(iso) == 3:
                typed = (iso[2], iso[1], iso[0])
            elif len(british) == 3:
                typed = (british[0], british[1], british[2])
            else:
                typed = ("", "", whole)
        else:
            self.data = None
            return
        self.parts = (typed[0], typed[1], typed[2])
        try:
            self.data = self._date(*self.parts)
        except ValueError as error:
            self.data = None
            self.process_errors.append(str(error))

    def show(self, value: date | None) -> None:
        """Show ``value`` in the boxes (a form filled from what is stored)."""
        self.data = value
        self.parts = _parts_of(value)

    def _date(self, day: str, month: str, year: str) -> date:
        name = re.sub(r"\s*\(.*\)$", "", self.label.text)
        given = (day, month, year)
        missing = [part for part, typed in zip(self.PARTS, given, strict=True) if not typed]
        if missing:
            raise ValueError(f"{name} must include a {' and a '.join(missing)}.")
        if not all(typed.isdigit() for typed in given):
            raise ValueError(f"{name} must be a real date, in numbers, like 27 3 2026.")
        if len(year) != 4:
            raise ValueError(f"{name}'s year must have 4 numbers, like 2026.")
        try:
            return date(int(year), int(month), int(day))
        except ValueError:
            raise ValueError(
                f"{name} must be a real date: there is no {day}/{month}/{year}."
            ) from None


def _parts_of(value: Any) -> tuple[str, str, str]:
    """Day, month and year of a date to show in the boxes (empty when there is none)."""
    if isinstance(value, date):
        return (str(value.day), str(value.month), str(value.year))
    return ("", "", "")
