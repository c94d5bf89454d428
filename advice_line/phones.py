"""Phone numbers in E.164, parsed with ``phonenumbers`` (UK numbers by default)."""

from __future__ import annotations

import phonenumbers

from advice_line.lifecycle.errors import InvalidInput

DEFAULT_REGION = "GB"


def normalise(number: str, *, field: str = "phone") -> str:
    """Return the number in E.164 form or raise ``InvalidInput`` naming the field."""
    try:
        parsed = phonenumbers.parse(number, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise InvalidInput({field: f"{number!r} is not a phone number"}) from None
    # "Possible" (right shape and length), not "valid": the metadata lags new ranges, and
    # an officer must never be turned away because of it (Ofcom's drama range, used in
    # demo data, is also reported invalid).
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidInput({field: f"{number!r} is not a possible phone number"})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
