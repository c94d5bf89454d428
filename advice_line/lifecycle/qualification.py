"""Who may give the s136(1C) consultation: one rule for the lifecycle and the routing engine.

A clinician qualifies when their profession is one the line's policy accepts (among those
the 2017 Regulations name) and they hold a registration with a regulator for that
profession whose number has that regulator's form, and that registration has not lapsed
(its lapse date, if known, is after today in London) (``docs/DOMAIN.md#qualifying-clinicians``).
``is_qualifying`` asks it of one clinician in Python; ``qualifying_condition`` asks the
same in SQL, from the same table of formats, so the engine never offers a request to
someone the lifecycle would then refuse.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import sqlalchemy as sa

from advice_line.clock import LONDON
from advice_line.lifecycle.errors import InvalidInput, NotQualified
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.models import Clinician, Profession, RegistrationBody
from advice_line.models.clinician import REGISTRATION_FORMATS

BODY_NAMES = {
    RegistrationBody.GMC: "General Medical Council",
    RegistrationBody.NMC: "Nursing and Midwifery Council",
    RegistrationBody.HCPC: "Health and Care Professions Council",
    RegistrationBody.SWE: "Social Work England",
}
EXAMPLES = {
    "[0-9]{7}": "7 digits, such as 1234567",
    "[0-9]{2}[A-Z][0-9]{4}[A-Z]": "like 12A3456E",
    "SW[0-9]{1,6}": "SW and up to 6 digits, such as SW123456",
    "(OT|PYL)[0-9]{5,6}": "OT or PYL and 5 or 6 digits, such as OT12345",
    "OT[0-9]{5,6}": "OT and 5 or 6 digits, such as OT12345",
    "PA[0-9]{5,6}": "PA and 5 or 6 digits, such as PA12345",
    "PYL[0-9]{5,6}": "PYL and 5 or 6 digits, such as PYL12345",
}


def normalise_registration(number: str) -> str:
    """Return a registration number as regulators print it: upper case, no spaces."""
    return re.sub(r"\s+", "", number).upper()


def check_registration(
    profession: Profession, body: RegistrationBody | None, number: str | None
) -> tuple[RegistrationBody, str] | None:
    """Return the registration, normalised, or None for none; raise ``InvalidInput`` if bad."""
    if body is None and not (number or "").strip():
        return None
    formats = REGISTRATION_FORMATS[profession]
    if body is None or body not in formats:
        allowed = ", ".join(sorted(formats)) or "none"
        raise InvalidInput(
            {"registration_body": f"A {profession.value} registers with: {allowed}."}
        )
    normalised = normalise_registration(number or "")
    pattern = formats[body]
    if not re.fullmatch(pattern, normalised):
        raise InvalidInput(
            {
                "registration_number": (
                    f"A {BODY_NAMES[body]} number for a {profession.value} is {EXAMPLES[pattern]}."
                )
            }
        )
    return body, normalised


def london_today(now: datetime) -> date:
    """Return the date in London at this moment."""
    return now.astimezone(LONDON).date()


def has_lapsed(clinician: Clinician, now: datetime) -> bool:
    """Return whether the clinician's registration has lapsed (its lapse day has come)."""
    lapses_on = clinician.registration_lapses_on
    return lapses_on is not None and lapses_on <= london_today(now)


def is_qualifying(clinician: Clinician, policy: RoutingPolicy, *, now: datetime) -> bool:
    """Return whether the clinician may give the s136(1C) consultation at this moment.

    See docs/DOMAIN.md#qualifying-clinicians.
    """
    pattern = REGISTRATION_FORMATS[clinician.profession].get(clinician.registration_body)  # type: ignore[arg-type]
    return (
        clinician.profession in policy.qualifying_professions
        and pattern is not None
        and re.fullmatch(pattern, clinician.registration_number or "") is not None
        and not has_lapsed(clinician, now)
    )


def require_qualifying(clinician: Clinician, policy: RoutingPolicy, *, now: datetime) -> None:
    """Refuse (``NotQualified``) a clinician who may not give the consultation."""
    if is_qualifying(clinician, policy, now=now):
        return
    if has_lapsed(clinician, now) and clinician.registration_lapses_on is not None:
        raise NotQualified(
            "Your registration lapsed on "
            f"{clinician.registration_lapses_on.strftime('%d %B %Y').lstrip('0')}, so you may "
            "not give the s136 consultation until an administrator records its renewal."
        )
    raise NotQualified(
        f"{clinician.profession.value} {clinician.id} has no qualifying profession and "
        "registration, so may not give the s136 consultation."
    )


def qualifying_condition(policy: RoutingPolicy, *, now: datetime) -> sa.ColumnElement[bool]:
    """The same rule as ``is_qualifying``, as a SQL condition on ``Clinician``."""
    registered = sa.or_(
        *(
            sa.and_(
                Clinician.profession == profession,
                Clinician.registration_body == body,
                Clinician.registration_number.regexp_match(f"^{pattern}$"),
            )
            for profession in sorted(policy.qualifying_professions)
            for body, pattern in sorted(REGISTRATION_FORMATS[profession].items())
        ),
        sa.false(),
    )
    not_lapsed = sa.or_(
        Clinician.registration_lapses_on.is_(None),
        Clinician.registration_lapses_on > london_today(now),
    )
    return sa.and_(registered, not_lapsed)


def example_registration(profession: Profession, body: RegistrationBody, serial: int) -> str:
    """Return a made-up number of the right form, unique per serial (for demo and tests)."""
    if body == RegistrationBody.GMC:
        return f"{serial % 10**7:07d}"
    if body == RegistrationBody.NMC:
        return f"{serial // 10**4 % 100:02d}X{serial % 10**4:04d}Z"
    if body == RegistrationBody.SWE:
        return f"SW{serial % 10**6:06d}"
    prefix = "PA" if profession == Profession.PARAMEDIC else "OT"
    if profession == Profession.PSYCHOLOGIST:
        prefix = "PYL"
    return f"{prefix}{serial % 10**6:06d}"
