"""The law a consultation record must respect, checked on the merged facts in one place.

The officer's answers (on any channel) set the key facts of a request; the clinician can
confirm or correct each on the record. The rules below hold on the merged facts: the
clinician's answer where they gave one, else the officer's. ``docs/DOMAIN.md#legal-rules``
says where each rule comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import AdviceRequest, AgeBand, OutcomeCode, PlaceOfSafety

#: The conditions of the Mental Health Act 1983 (Places of Safety) Regulations 2017 for
#: taking an adult to a police station, as facts the officer gives.
POLICE_STATION_CONDITIONS: dict[str, str] = {
    "police_station_imminent_risk": (
        "the person's behaviour poses an imminent risk of serious injury or death"
    ),
    "police_station_no_other_place": "no other place of safety can reasonably be expected",
    "police_station_health_professional": "a health professional will be present",
    "police_station_inspector_authorised": "an inspector (or above) has authorised it",
}
#: The lower bound of each age band, to check an exact age against its band.
AGE_BANDS: tuple[tuple[int, AgeBand], ...] = (
    (65, AgeBand.AGE_65_PLUS),
    (55, AgeBand.AGE_55_64),
    (45, AgeBand.AGE_45_54),
    (35, AgeBand.AGE_35_44),
    (25, AgeBand.AGE_25_34),
    (18, AgeBand.AGE_18_24),
    (0, AgeBand.UNDER_18),
)


class Facts(Protocol):
    """What a record says about the person (a record being written, or a stored one)."""

    @property
    def risk_to_life(self) -> bool | None:
        """The clinician's answer: is there a risk to life?"""

    @property
    def subject_under_18(self) -> bool | None:
        """The clinician's answer: is the person under 18?"""

    @property
    def in_dwelling(self) -> bool | None:
        """The clinician's answer: is the person in a private dwelling?"""


@dataclass(frozen=True)
class KeyFacts:
    """The facts the law turns on: the clinician's answer where given, else the officer's."""

    risk_to_life: bool | None
    under_18: bool | None
    in_dwelling: bool | None

    @property
    def unanswered(self) -> tuple[str, ...]:
        """The key questions nobody has answered yet."""
        return tuple(
            name
            for name, value in (
                ("risk_to_life", self.risk_to_life),
                ("under_18", self.under_18),
                ("in_dwelling", self.in_dwelling),
            )
            if value is None
        )


def _first_known(*values: bool | None) -> bool | None:
    return next((v for v in values if v is not None), None)


def key_facts(request: AdviceRequest, record: Facts | None = None) -> KeyFacts:
    """Merge the officer's answers with the clinician's corrections."""
    if record is None:
        return KeyFacts(request.risk_to_life, request.subject_under_18, request.in_dwelling)
    return KeyFacts(
        risk_to_life=_first_known(record.risk_to_life, request.risk_to_life),
        under_18=_first_known(record.subject_under_18, request.subject_under_18),
        in_dwelling=_first_known(record.in_dwelling, request.in_dwelling),
    )


def band_of_age(age: int) -> AgeBand:
    """Return the age band an exact age falls in."""
    return next(band for lowest, band in AGE_BANDS if age >= lowest)


def under_18_by_any_indicator(
    request: AdviceRequest,
    record: Facts | None = None,
    *,
    age_band: AgeBand | None = None,
    age: int | None = None,
) -> bool:
    """Whether anything says the person is a child: a flag, an age band or an age."""
    band = age_band or request.subject_age_band
    years = age if age is not None else request.subject_age
    return bool(
        request.subject_under_18
        or (record is not None and record.subject_under_18)
        or band == AgeBand.UNDER_18
        or (years is not None and years < 18)
    )


def age_errors(under_18: bool | None, age_band: AgeBand | None, age: int | None) -> dict[str, str]:
    """Refuse an age, an age band and an under-18 answer that contradict each other."""
    errors: dict[str, str] = {}
    if age is not None and not 0 <= age <= 120:
        errors["subject_age"] = "Give the age in whole years, from 0 to 120."
    elif age is not None and age_band is not None and band_of_age(age) != age_band:
        errors["subject_age_band"] = f"An age of {age} is not in this age band."
    child_by_age = (age is not None and age < 18) or age_band == AgeBand.UNDER_18
    adult_by_age = (age is not None and age >= 18) or (
        age_band is not None and age_band != AgeBand.UNDER_18
    )
    if under_18 is False and child_by_age:
        errors["subject_under_18"] = "The age given is under 18, but the answer says not."
    elif under_18 is True and adult_by_age:
        errors["subject_under_18"] = "The age given is 18 or over, but the answer says under 18."
    return errors


def advice_errors(
    outcome: OutcomeCode | None,
    *,
    place_of_safety: PlaceOfSafety | None,
    community_route: object | None,
    police_station_facts: Mapping[str, bool | None],
    facts: KeyFacts,
    child: bool,
    policy: RoutingPolicy,
) -> dict[str, str]:
    """Return what the law (and plain consistency) refuses in this advice, by field."""
    errors: dict[str, str] = {}
    if outcome != OutcomeCode.S136_ADVISED:
        if place_of_safety is not None:
            errors["place_of_safety"] = (
                "A place of safety belongs only to s136 advice: clear it or advise s136."
            )
        if community_route is not None and outcome != OutcomeCode.COMMUNITY_ROUTE:
            errors["community_route"] = (
                "A community route belongs only to the community route outcome: clear it."
            )
        return errors
    if facts.in_dwelling:
        errors["outcome"] = (
            "Section 136 cannot be used in a private dwelling (s136(1A)); "
            "choose the s135 / AMHP route or another outcome."
        )
    elif facts.in_dwelling is None:
        errors["in_dwelling"] = (
            "Say whether the person is in a private dwelling: s136 cannot be used there."
        )
    if community_route is not None:
        errors["community_route"] = "s136 advice has no community route: clear it."
    if place_of_safety is None:
        errors["place_of_safety"] = "Recommend a place of safety."
    elif place_of_safety == PlaceOfSafety.POLICE_STATION:
        errors.update(_police_station_errors(police_station_facts, child=child, policy=policy))
    return errors


def _police_station_errors(
    given: Mapping[str, bool | None], *, child: bool, policy: RoutingPolicy
) -> dict[str, str]:
    if not policy.police_stations_allowed:
        return {"place_of_safety": "This line's settings do not allow a police station."}
    if child:
        return {
            "place_of_safety": (
                "A police station may never be the place of safety for anyone under 18 (s136A)."
            )
        }
    missing = [text for name, text in POLICE_STATION_CONDITIONS.items() if not given.get(name)]
    if not missing:
        return {}
    return {
        "police_station_conditions": (
            "A police station needs every condition of the 2017 Regulations, as the officer "
            f"gives them; not confirmed: {'; '.join(missing)}."
        )
    }
