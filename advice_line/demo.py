"""Demo data: a rota covering now, every role, and officers of three forces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from advice_line.lifecycle.accounts import DEMO_PASSWORD
from advice_line.models import (
    Clinician,
    ClinicianSkill,
    ClinicianStatus,
    Officer,
    OfficerPhone,
    Profession,
    RegistrationBody,
    Role,
    Shift,
    Skill,
    User,
)
from advice_line.phones import normalise

__all__ = ["CONSOLE_CLINICIAN", "DEMO_PASSWORD", "demo_logins", "seed_demo"]

#: The demo's console clinician: the only one who starts available, so the first request
#: is offered to her (at the console once she signs in, else on her simulated phone). The
#: other qualifying clinicians start away and are offered nothing until set available;
#: the support worker, who may not give advice, starts offline.
CONSOLE_CLINICIAN = "amira"


@dataclass(frozen=True)
class DemoClinician:
    """A demo clinician's details."""

    username: str
    name: str
    role: Role
    profession: Profession
    body: RegistrationBody | None
    registration: str | None
    phone: str
    skills: tuple[Skill, ...]


CLINICIANS = (
    DemoClinician(
        "amira",
        "Amira Okafor (mental-health nurse)",
        Role.CLINICIAN,
        Profession.NURSE,
        RegistrationBody.NMC,
        "12A3456E",
        "07700 900101",
        (Skill.CAMHS,),
    ),
    DemoClinician(
        "ben",
        "Dr Ben Hughes (psychiatrist)",
        Role.CLINICIAN,
        Profession.DOCTOR,
        RegistrationBody.GMC,
        "7012345",
        "07700 900102",
        (Skill.OLDER_ADULT,),
    ),
    DemoClinician(
        "chloe",
        "Chloe Evans (AMHP)",
        Role.CLINICIAN,
        Profession.AMHP,
        RegistrationBody.SWE,
        "SW123456",
        "07700 900103",
        (Skill.LEARNING_DISABILITY, Skill.AUTISM),
    ),
    DemoClinician(
        "dev",
        "Dev Patel (paramedic)",
        Role.CLINICIAN,
        Profession.PARAMEDIC,
        RegistrationBody.HCPC,
        "PA12345",
        "07700 900104",
        (),
    ),
    DemoClinician(
        "erin",
        "Erin Walsh (occupational therapist)",
        Role.CLINICIAN,
        Profession.OCCUPATIONAL_THERAPIST,
        RegistrationBody.HCPC,
        "OT54321",
        "07700 900105",
        (Skill.PERINATAL,),
    ),
    DemoClinician(
        "sam",
        "Sam Adeyemi (senior nurse, shift lead)",
        Role.SENIOR_CLINICIAN,
        Profession.NURSE,
        RegistrationBody.NMC,
        "09B8765F",
        "07700 900106",
        (Skill.CAMHS, Skill.LEARNING_DISABILITY),
    ),
    DemoClinician(
        "terry",
        "Terry Lane (support worker, not qualifying)",
        Role.CLINICIAN,
        Profession.SUPPORT_WORKER,
        None,
        None,
        "07700 900107",
        (),
    ),
)
STAFF = (
    ("morgan", "Morgan Reid (service manager)", Role.MANAGER),
    ("alex", "Alex Kim (administrator)", Role.ADMIN),
)
OFFICERS = (
    ("Metropolitan Police Service", "MP1234", "PC Jo Smith", "07700 900201"),
    ("Metropolitan Police Service", "MP5678", "PC Ravi Shah", "07700 900202"),
    ("British Transport Police", "BT4321", "PC Kate Morris", "07700 900203"),
    ("City of London Police", "CL0042", "PC Tom Fraser", "07700 900204"),
)


def seed_demo(session: Session, *, now: datetime) -> bool:
    """Add the demo data unless staff accounts already exist; return whether it seeded."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return False
    password_hash = generate_password_hash(DEMO_PASSWORD)
    shift_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    for person in CLINICIANS:
        user = User(
            username=person.username,
            display_name=person.name,
            password_hash=password_hash,
            role=person.role,
            created_at=now,
        )
        clinician = Clinician(
            user=user,
            profession=person.profession,
            registration_body=person.body,
            registration_number=person.registration,
            phone=normalise(person.phone),
            status=_starting_status(person),
            status_changed_at=now,
            idle_since=now,
            skills=[ClinicianSkill(skill=s) for s in person.skills],
            shifts=[
                Shift(
                    starts_at=shift_start + timedelta(days=d),
                    ends_at=shift_start + timedelta(days=d, hours=12),
                )
                for d in range(3)
            ],
        )
        session.add(clinician)
    for username, name, role in STAFF:
        session.add(
            User(
                username=username,
                display_name=name,
                password_hash=password_hash,
                role=role,
                created_at=now,
            )
        )
    for force, collar, name, phone in OFFICERS:
        session.add(
            Officer(
                force=force,
                collar_number=collar,
                name=name,
                created_at=now,
                phones=[OfficerPhone(number=normalise(phone), verified_at=now)],
            )
        )
    session.flush()
    return True


def _starting_status(person: DemoClinician) -> ClinicianStatus:
    if person.body is None:
        return ClinicianStatus.OFFLINE
    if person.username == CONSOLE_CLINICIAN:
        return ClinicianStatus.AVAILABLE
    return ClinicianStatus.AWAY


def demo_logins() -> list[tuple[str, str, str]]:
    """Return (username, role, name) for every demo account."""
    people = [(c.username, c.role.value, c.name) for c in CLINICIANS]
    return people + [(u, r.value, n) for u, n, r in STAFF]
