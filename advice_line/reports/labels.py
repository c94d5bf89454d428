"""Human labels for every code the reports show: pages, charts and CSV exports read them
from here, and docs/DATA-DICTIONARY.md lists the same (a test checks it)."""

from __future__ import annotations

import enum

from advice_line.models import (
    AgeBand,
    Channel,
    CommunityRoute,
    Conveyance,
    Ethnicity,
    OfficerDecision,
    OutcomeCode,
    PlaceOfSafety,
    PlaceOfSafetyUsed,
    PoliceVehicleReason,
    Priority,
    RcrpPhase,
    RequestStatus,
    Sex,
)
from advice_line.models.clinician import Profession

EN_DASH = "\u2013"
#: Codes whose label is not their words with spaces and a capital.
_SPECIAL: dict[str, str] = {
    "s136_advised": "Section 136 advised",
    "s135_amhp_route": "Section 135 (AMHP route)",
    "no_mental_health_role": "No mental health role",
    "gp": "GP",
    "voluntary_ed": "Voluntary attendance at the emergency department",
    "health_based": "Health-based place of safety",
    "emergency_department": "Emergency department",
    "under_18": "Under 18",
    "65_plus": "65 and over",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "voice": "Phone call",
    "walk_out_awol": "Walked out or absent without leave (AWOL)",
    "s136_handover": "Section 136 handover",
    "amhp": "Approved mental health professional (AMHP)",
    "wrap_up": "Wrapping up",
    "ambulance_unavailable": "No ambulance available",
    "ambulance_delayed": "Ambulance delayed",
    "nhs_111_option_2": "NHS 111, option 2",
    "follow_up": "Follow-up",
    "call_back": "Call-back",
}

#: Every coded column of the reports and its codes, for labels and the data dictionary.
CODES: dict[str, type[enum.Enum]] = {
    "channel": Channel,
    "rcrp_phase": RcrpPhase,
    "age_band": AgeBand,
    "sex": Sex,
    "ethnicity": Ethnicity,
    "status": RequestStatus,
    "outcome": OutcomeCode,
    "community_route": CommunityRoute,
    "place_of_safety": PlaceOfSafety,
    "officer_decision": OfficerDecision,
    "place_of_safety_used": PlaceOfSafetyUsed,
    "conveyance": Conveyance,
    "police_vehicle_reason": PoliceVehicleReason,
    "given_by_profession": Profession,
}

PRIORITIES = {
    Priority.RISK_TO_LIFE: "Risk to life",
    Priority.UNDER_18: "Under 18",
    Priority.ROUTINE: "Routine",
}


def label(code: object) -> str:
    """The words for a code (an enum member or its value); '' for none."""
    if code is None or code == "":
        return ""
    if isinstance(code, Priority):
        return PRIORITIES[code]
    value = str(code.value if isinstance(code, enum.Enum) else code)
    if value in _SPECIAL:
        return _SPECIAL[value]
    first, _, rest = value.partition("_")
    if first.isdigit() and rest.isdigit():  # an age band such as 18_24
        return f"{first}{EN_DASH}{rest}"
    return value.replace("_", " ").capitalize()


def hour_label(hour: int) -> str:
    """An hour of the day as the span it covers: 18 → '18:00 to 19:00' with an en dash."""
    return f"{hour:02d}:00{EN_DASH}{hour + 1:02d}:00"


def yes_no(value: object) -> str:
    """A boolean as an analyst reads it."""
    return "yes" if value else "no"


def where_label(went: str) -> str:
    """A 'where people went' group: 'community: gp' → 'Community route: GP'."""
    kind, _, rest = went.partition(": ")
    if kind == "community":
        return f"Community route: {label(rest)}"
    if kind == "detained":
        return f"Detained: {label(rest)}"
    return label(kind.replace(" ", "_"))
