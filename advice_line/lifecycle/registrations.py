"""Clinicians' details as an administrator keeps them, and registrations lapsing soon.

``set_clinician_details`` records a console account's profession, registration (checked
by its regulator's form), when the register was last checked and when the registration
lapses, skills and phone. A change made during a call takes effect from the next offer.
``lapse_warnings`` lists the registrations that lapse within the warning window, or have
lapsed, for the clinician's banner, the senior's floor and the metrics
(``docs/DOMAIN.md#qualifying-clinicians``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import phones
from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import InvalidInput, NotFound
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import check_registration, london_today
from advice_line.models import (
    Clinician,
    ClinicianSkill,
    ClinicianStatus,
    Profession,
    RegistrationBody,
    Role,
    Skill,
    User,
)

E = TypeVar("E", Profession, RegistrationBody, Skill)
#: The roles that sit at a console, and so may be clinicians.
CONSOLE_ROLES = frozenset({Role.CLINICIAN, Role.SENIOR_CLINICIAN})


@dataclass(frozen=True)
class ClinicianDetails:
    """A clinician's details as typed in a form or on the command line ("" for none)."""

    profession: str
    registration_body: str = ""
    registration_number: str = ""
    verified_on: str = ""
    lapses_on: str = ""
    skills: tuple[str, ...] = ()
    phone: str = ""


@dataclass(frozen=True)
class LapseWarning:
    """A registration that lapses within the warning window, or has lapsed."""

    clinician_id: int
    user_id: int
    name: str
    lapses_on: date
    lapsed: bool


def _date(text: str, field: str, errors: dict[str, str]) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        errors[field] = (
            f"{text.strip()!r} is not a date: give it as YYYY-MM-DD, such as 2027-03-31."
        )
        return None


def _enum(kind: type[E], text: str, field: str, errors: dict[str, str]) -> E | None:
    try:
        return kind(text.strip())
    except ValueError:
        known = ", ".join(member.value for member in kind)
        errors[field] = f"{text.strip()!r} is not one of: {known}."
        return None


def _parse(details: ClinicianDetails, now: datetime) -> dict[str, Any]:
    """Return the details' values, or raise ``InvalidInput`` with every field's problem."""
    errors: dict[str, str] = {}
    profession = _enum(Profession, details.profession, "profession", errors)
    body = None
    if details.registration_body.strip():
        body = _enum(RegistrationBody, details.registration_body, "registration_body", errors)
    skills = {_enum(Skill, text, "skills", errors) for text in details.skills if text.strip()}
    verified_on = _date(details.verified_on, "verified_on", errors)
    lapses_on = _date(details.lapses_on, "lapses_on", errors)
    if verified_on is not None and verified_on > london_today(now):
        errors["verified_on"] = "The register cannot have been checked on a day still to come."
    if verified_on is not None and lapses_on is not None and lapses_on <= verified_on:
        errors["lapses_on"] = "A registration lapses after the day it was last verified."
    phone = None
    if details.phone.strip():
        try:
            phone = phones.normalise(details.phone)
        except InvalidInput:
            errors["phone"] = f"{details.phone.strip()!r} is not a phone number we can ring."
    registration = None
    if profession is not None and "registration_body" not in errors:
        try:
            registration = check_registration(profession, body, details.registration_number)
        except InvalidInput as bad:
            errors.update(bad.errors)
    if errors:
        raise InvalidInput(errors)
    return {
        "profession": profession,
        "registration_body": registration[0] if registration else None,
        "registration_number": registration[1] if registration else None,
        "registration_verified_on": verified_on,
        "registration_lapses_on": lapses_on,
        "skills": sorted(s for s in skills if s is not None),
        "phone": phone,
    }


def details_of(clinician: Clinician) -> ClinicianDetails:
    """Return a clinician's details as they would be typed."""
    verified, lapses = clinician.registration_verified_on, clinician.registration_lapses_on
    return ClinicianDetails(
        profession=clinician.profession.value,
        registration_body=clinician.registration_body.value if clinician.registration_body else "",
        registration_number=clinician.registration_number or "",
        verified_on=verified.isoformat() if verified else "",
        lapses_on=lapses.isoformat() if lapses else "",
        skills=tuple(sorted(s.value for s in clinician.skill_set)),
        phone=clinician.phone or "",
    )


def _shown(field: str, value: Any) -> Any:
    """A value as the audit log keeps it: the phone by its last 3 digits only."""
    if value is None:
        return None
    if field == "phone":
        return f"…{value[-3:]}"
    if isinstance(value, list):
        return [str(v) for v in value]
    return str(value)


def _current(clinician: Clinician | None) -> dict[str, Any]:
    if clinician is None:
        return {}
    return {
        "profession": clinician.profession,
        "registration_body": clinician.registration_body,
        "registration_number": clinician.registration_number,
        "registration_verified_on": clinician.registration_verified_on,
        "registration_lapses_on": clinician.registration_lapses_on,
        "skills": sorted(clinician.skill_set),
        "phone": clinician.phone,
    }


def set_clinician_details(
    session: Session, user_id: int, details: ClinicianDetails, *, now: datetime, actor: Actor
) -> Clinician:
    """Record a console account's clinician details (creating its clinician if missing).

    Refuses (``InvalidInput``) a bad value or a registration another clinician holds.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no staff account {user_id}.")
    if user.role not in CONSOLE_ROLES:
        raise InvalidInput(
            {"role": f"{user.username} is a {user.role.value}, not a clinician at a console."}
        )
    values = _parse(details, now)
    if values["registration_body"] is not None:
        holder = session.scalar(
            select(User)
            .join(Clinician, Clinician.user_id == User.id)
            .where(
                Clinician.registration_body == values["registration_body"],
                Clinician.registration_number == values["registration_number"],
                User.id != user_id,
            )
        )
        if holder is not None:
            raise InvalidInput(
                {
                    "registration_number": (
                        f"{values['registration_body']} {values['registration_number']} is "
                        f"already the registration of {holder.display_name} ({holder.username})."
                    )
                }
            )
    clinician = session.scalar(
        select(Clinician).where(Clinician.user_id == user_id).with_for_update()
    )
    before = _current(clinician)
    if clinician is None:
        clinician = Clinician(
            user_id=user_id,
            profession=values["profession"],
            status=ClinicianStatus.OFFLINE,
            status_changed_at=now,
        )
        session.add(clinician)
    changes = {
        field: {"before": _shown(field, before.get(field)), "after": _shown(field, value)}
        for field, value in values.items()
        if before.get(field) != value or not before
    }
    for field, value in values.items():
        if field != "skills":
            setattr(clinician, field, value)
    if before.get("skills") != values["skills"]:
        clinician.skills = [ClinicianSkill(skill=skill) for skill in values["skills"]]
    session.flush()
    if changes:
        record_event(
            session,
            actor,
            "clinician.created" if not before else "clinician.details_changed",
            now=now,
            subject=("user", user_id),
            detail={"clinician_id": clinician.id, "changes": changes},
        )
    return clinician


def lapse_warning(clinician: Clinician, *, now: datetime, policy: RoutingPolicy) -> date | None:
    """Return the day the clinician's registration lapses if it is within the window."""
    lapses_on = clinician.registration_lapses_on
    if lapses_on is None or lapses_on > london_today(now) + policy.registration_warning:
        return None
    return lapses_on


def lapse_warnings(session: Session, *, now: datetime, policy: RoutingPolicy) -> list[LapseWarning]:
    """Active clinicians whose registration lapses within the window or has lapsed."""
    today = london_today(now)
    rows = session.execute(
        select(Clinician.id, User.id, User.display_name, Clinician.registration_lapses_on)
        .join(User, User.id == Clinician.user_id)
        .where(
            User.active.is_(True),
            Clinician.registration_lapses_on <= today + policy.registration_warning,
        )
        .order_by(Clinician.registration_lapses_on, User.display_name)
    ).all()
    return [
        LapseWarning(clinician_id, user_id, name, lapses_on, lapses_on <= today)
        for clinician_id, user_id, name, lapses_on in rows
        if lapses_on is not None
    ]
