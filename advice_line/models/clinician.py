"""Staff accounts, clinicians, their skills and the on-call rota."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from advice_line.models.base import Base, str_enum


class Role(enum.StrEnum):
    """What a staff account may do."""

    CLINICIAN = "clinician"
    SENIOR_CLINICIAN = "senior_clinician"
    MANAGER = "manager"
    ADMIN = "admin"


class Profession(enum.StrEnum):
    """A clinician's profession; docs/DOMAIN.md#qualifying-clinicians says which qualify."""

    DOCTOR = "doctor"
    NURSE = "nurse"
    AMHP = "amhp"
    OCCUPATIONAL_THERAPIST = "occupational_therapist"
    PARAMEDIC = "paramedic"
    PSYCHOLOGIST = "psychologist"
    SUPPORT_WORKER = "support_worker"


class RegistrationBody(enum.StrEnum):
    """The regulator that holds a clinician's registration."""

    GMC = "GMC"
    NMC = "NMC"
    HCPC = "HCPC"
    SWE = "SWE"


#: The regulators that may hold each profession's registration, and the form of their
#: numbers (upper case, no spaces; the same pattern serves Python and SQL).
REGISTRATION_FORMATS: dict[Profession, dict[RegistrationBody, str]] = {
    Profession.DOCTOR: {RegistrationBody.GMC: "[0-9]{7}"},
    Profession.NURSE: {RegistrationBody.NMC: "[0-9]{2}[A-Z][0-9]{4}[A-Z]"},
    Profession.AMHP: {
        RegistrationBody.SWE: "SW[0-9]{1,6}",
        RegistrationBody.NMC: "[0-9]{2}[A-Z][0-9]{4}[A-Z]",
        RegistrationBody.HCPC: "(OT|PYL)[0-9]{5,6}",
    },
    Profession.OCCUPATIONAL_THERAPIST: {RegistrationBody.HCPC: "OT[0-9]{5,6}"},
    Profession.PARAMEDIC: {RegistrationBody.HCPC: "PA[0-9]{5,6}"},
    Profession.PSYCHOLOGIST: {RegistrationBody.HCPC: "PYL[0-9]{5,6}"},
    Profession.SUPPORT_WORKER: {},
}
REGISTRATION_BODIES: dict[Profession, frozenset[RegistrationBody]] = {
    profession: frozenset(formats) for profession, formats in REGISTRATION_FORMATS.items()
}
#: The professions the Mental Health Act 1983 (Places of Safety) Regulations 2017 name
#: for the s136(1C) consultation (docs/DOMAIN.md#qualifying-clinicians).
REGULATION_PROFESSIONS: frozenset[Profession] = frozenset(
    {
        Profession.DOCTOR,
        Profession.NURSE,
        Profession.AMHP,
        Profession.OCCUPATIONAL_THERAPIST,
        Profession.PARAMEDIC,
    }
)


class Skill(enum.StrEnum):
    """A specialism a request may need."""

    CAMHS = "camhs"
    LEARNING_DISABILITY = "learning_disability"
    OLDER_ADULT = "older_adult"
    AUTISM = "autism"
    PERINATAL = "perinatal"


class ClinicianStatus(enum.StrEnum):
    """Where a clinician is in taking requests."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    OFFERED = "offered"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    AWAY = "away"


class User(Base):
    """A staff account (clinician, senior clinician, manager or admin)."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    #: Set by an admin's reset: the next sign-in must choose a new password first.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    #: The value of the configured single sign-on claim that identifies this account.
    sso_identity: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    #: The TOTP second factor's secret, once enrolment has started; confirmed when the
    #: first code from the authenticator app was right.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255))
    totp_confirmed_at: Mapped[datetime | None]
    #: The time step of the last accepted TOTP code: that code and older ones are refused.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: Wrong second-factor codes in a row; too many lock the account until an admin unlocks.
    second_factor_failures: Mapped[int] = mapped_column(default=0)
    locked_at: Mapped[datetime | None]

    clinician: Mapped[Clinician | None] = relationship(back_populates="user")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class RecoveryCode(Base):
    """A one-time code that stands in for the second factor (stored hashed)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class Clinician(Base):
    """A clinician who can give advice: profession, registration, skills, status."""

    __tablename__ = "clinician"
    __table_args__ = (
        sa.UniqueConstraint("registration_body", "registration_number"),
        sa.Index("ix_clinician_status_idle_since", "status", "idle_since"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), unique=True)
    profession: Mapped[Profession] = mapped_column(str_enum(Profession, "profession"))
    registration_body: Mapped[RegistrationBody | None] = mapped_column(
        str_enum(RegistrationBody, "registration_body")
    )
    registration_number: Mapped[str | None] = mapped_column(sa.String(20))
    #: When the regulator's register was last checked for this registration.
    registration_verified_on: Mapped[date | None]
    #: The day the registration lapses unless renewed: from then on no offers
    #: (docs/DOMAIN.md#qualifying-clinicians).
    registration_lapses_on: Mapped[date | None]
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[ClinicianStatus] = mapped_column(
        str_enum(ClinicianStatus, "clinician_status"), default=ClinicianStatus.OFFLINE
    )
    status_changed_at: Mapped[datetime]
    idle_since: Mapped[datetime | None]
    missed_offers_in_row: Mapped[int] = mapped_column(default=0)
    on_console: Mapped[bool] = mapped_column(default=False)
    console_seen_at: Mapped[datetime | None]
    #: When a console page last said its browser can take calls (the Voice SDK's device is
    #: registered and the microphone allowed); stale after the presence grace.
    browser_phone_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="clinician")
    skills: Mapped[list[ClinicianSkill]] = relationship(cascade="all, delete-orphan")
    shifts: Mapped[list[Shift]] = relationship(
        back_populates="clinician", cascade="all, delete-orphan"
    )

    @property
    def skill_set(self) -> frozenset[Skill]:
        """Return the clinician's skills."""
        return frozenset(s.skill for s in self.skills)


class ClinicianSkill(Base):
    """One skill held by one clinician."""

    __tablename__ = "clinician_skill"
    __table_args__ = (sa.Index("ix_clinician_skill_skill_clinician", "skill", "clinician_id"),)

    clinician_id: Mapped[int] = mapped_column(sa.ForeignKey("clinician.id"), primary_key=True)
    skill: Mapped[Skill] = mapped_column(str_enum(Skill, "skill"), primary_key=True)


class Shift(Base):
    """A period on the on-call rota."""

    __tablename__ = "shift"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.Index("ix_shift_clinician_period", "clinician_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(sa.ForeignKey("clinician.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]

    clinician: Mapped[Clinician] = relationship(back_populates="shifts")


class RotaPattern(Base):
    """A weekly shift for one clinician (London local times) from which shifts are made.

    An end at or before the start means the next day. ``generated_until`` is the last
    date shifts were made for, so each date is made once: a shift removed by hand stays
    removed (docs/ROTA-IMPORT.md says how patterns and imports meet).
    """

    __tablename__ = "rota_pattern"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_monday_to_sunday"),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from", name="until_after_from"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinician_id: Mapped[int] = mapped_column(sa.ForeignKey("clinician.id"), index=True)
    #: 0 is Monday, as Python's ``date.weekday``.
    weekday: Mapped[int]
    starts: Mapped[time]
    ends: Mapped[time]
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    generated_until: Mapped[date | None]
    created_at: Mapped[datetime]

    clinician: Mapped[Clinician] = relationship()


class SessionEnd(enum.StrEnum):
    """Why a sign-in session ended."""

    SIGNED_OUT = "signed_out"
    DEACTIVATED = "deactivated"
    EXPIRED = "expired"
    IDLE = "idle"
    #: An admin set a temporary password: every sign-in with the old one ends.
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason, not a password


class UserSession(Base):
    """One sign-in: its id is in the signed cookie, and only an open row lets the cookie in."""

    __tablename__ = "user_session"
    __table_args__ = (
        sa.CheckConstraint("(ended_at IS NULL) = (ended_reason IS NULL)", name="ended_with_reason"),
    )

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    ended_reason: Mapped[SessionEnd | None] = mapped_column(str_enum(SessionEnd, "session_end"))
