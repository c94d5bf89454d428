"""Input from outside, checked at the edge: row ids, and text without control codes."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from werkzeug.routing import IntegerConverter, Map
from wtforms import Field, Form
from wtforms.fields.core import UnboundField

from advice_line.text import CONTROL_CODES, without_control_codes

__all__ = ["CONTROL_CODES", "CleanForm", "IdConverter", "parse_id", "without_control_codes"]

MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


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


class CleanForm(FlaskForm):  # type: ignore[misc]
    """A form whose every field drops control codes from what was sent."""

    class Meta:
        def bind_field(self, form: Form, unbound_field: UnboundField, options: Any) -> Field:
            """Bind the field with ``without_control_codes`` before its own filters."""
            filters = [without_control_codes, *unbound_field.kwargs.get("filters", ())]
            return unbound_field.bind(form=form, **{**options, "filters": filters})
