"""Text as people type it: control codes dropped (no Flask here, so the domain may use it)."""

from __future__ import annotations

import re
from typing import Any

#: Control codes bar tab and newline: never meant in what people type, and neither
#: PostgreSQL (NUL) nor the XML of TwiML (most of the others) can hold them.
CONTROL_CODES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def without_control_codes(value: Any) -> Any:
    """Drop control codes from text (anything else passes unchanged)."""
    return CONTROL_CODES.sub("", value) if isinstance(value, str) else value
