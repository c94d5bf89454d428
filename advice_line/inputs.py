"""Input from outside, checked at the edge: row ids, and text without control codes."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from werkzeug.routing import IntegerConverter, Map
from wtforms import Field, Form
from wtforms.fields.core import UnboundField

MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
#: Control codes bar tab and newline: never meant in what people type, and neither
#: PostgreSQL (NUL) nor the XML of TwiML (most of the others) can hold them.
CONTROL_CODES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def parse_id(text: str) -> int | None:
    """Return the row id ``text`` names, or None when it cannot name one."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


class IdConverter(IntegerConverter):
    """``<int:...>`` in URLs, limited to ids a row can have (any other number is a 404)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def without_control_codes(value: Any) -> Any:
    """Drop control codes from text (anything else passes unchanged)."""
    return CONTROL_CODES.sub("", value) if isinstance(value, str) else value


class CleanForm(FlaskForm):  # type: ignore[misc]
    """A form whose every field drops control codes from what was sent."""

    class Meta:
        def bind_field(self, form: Form, unbound_field: UnboundField, options: Any) -> Field:
            """Bind the field with ``without_control_codes`` before its own filters."""
            filters = [without_control_codes, *unbound_field.kwargs.get("filters", ())]
            return unbound_field.bind(form=form, **{**options, "filters": filters})
