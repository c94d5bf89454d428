"""Advice requests and the offers that route them to clinicians."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from advice_line.models.base import Base, str_enum
from advice_line.models.clinician import Clinician, Skill
from advice_line.models.officer import Officer

REFERENCE_PREFIX = "AL-"


class Channel(enum.StrEnum):
    """How the officer reached the line."""

    VOICE = "voice"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class RequestStatus(enum.StrEnum):
    """Lifecycle of an advice request (docs/DOMAIN.md#request-statuses)."""

    RECEIVED = "received"
    QUEUED = "queued"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    CLOSED = "closed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"


class EscalationLevel(enum.StrEnum):
    """How widely a waiting request is routed; widens with waiting time."""

    SKILLS_REQUIRED = "skills_required"
    ANY_QUALIFYING = "any_qualifying"
    SENIOR_ALERT = "senior_alert"


class Priority(enum.IntEnum):
    """Lower is more urgent: risk to life, then under 18, then everyone else."""

    RISK_TO_LIFE = 1
    UNDER_18 = 2
    ROUTINE = 3


class Standing(enum.IntEnum):
    """Place within a priority, lower first (docs/DOMAIN.md#priorities)."""

    #: A verified officer, or a caller who answered the menu or the key questions.
    ANSWERED = 0
    #: Neither a registered number nor any answer: the safe defaults, shown as such.
    UNVERIFIED_SILENT = 1
    #: A new request past the per-number limit (``NEW_REQUESTS_PER_NUMBER``).
    OVER_LIMIT = 2


class AgeBand(enum.StrEnum):
    """The person's age band (as the Home Office s136 return groups ages)."""

    UNDER_18 = "under_18"
    AGE_18_24 = "18_24"
    AGE_25_34 = "25_34"
    AGE_35_44 = "35_44"
    AGE_45_54 = "45_54"
    AGE_55_64 = "55_64"
    AGE_65_PLUS = "65_plus"


class Sex(enum.StrEnum):
    """The person's sex as recorded for the s136 return."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Ethnicity(enum.StrEnum):
    """Broad ethnic group (the Home Office's five groups)."""

    WHITE = "white"
    MIXED = "mixed"
    ASIAN = "asian"
    BLACK = "black"
    OTHER = "other"


class RcrpPhase(enum.StrEnum):
    """The Right Care, Right Person phase of the incident."""

    CONCERN_FOR_WELFARE = "concern_for_welfare"
    WALK_OUT_AWOL = "walk_out_awol"
    S136_HANDOVER = "s136_handover"
    CONVEYANCE = "conveyance"


class AdviceRequest(Base):
    """An officer's request for advice, from first contact to close."""

    __tablename__ = "advice_request"
    __table_args__ = (
        sa.Index(
            "ix_advice_request_queue", "status", "priority", "standing", "waiting_since", "id"
        ),
        sa.Index("ix_advice_request_caller_number", "caller_number", "received_at"),
        sa.Index("ix_advice_request_received_at", "received_at"),
        sa.CheckConstraint("subject_age BETWEEN 0 AND 120", name="subject_age_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, "channel"))
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "request_status"), default=RequestStatus.RECEIVED
    )
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officer.id"), index=True)
    officer_verified: Mapped[bool] = mapped_column(default=False)
    caller_number: Mapped[str | None] = mapped_column(sa.String(40))
    claimed_collar_number: Mapped[str | None] = mapped_column(sa.String(20))
    claimed_force: Mapped[str | None] = mapped_column(sa.String(80))
    call_back_requested_at: Mapped[datetime | None]
    incident_ref: Mapped[str | None] = mapped_column(sa.String(40))
    location: Mapped[str | None] = mapped_column(sa.String(200))
    in_dwelling: Mapped[bool | None]
    #: The key questions as the officer answered them; None: not answered (yet).
    risk_to_life: Mapped[bool | None]
    subject_under_18: Mapped[bool | None]
    #: The person's age in whole years, when known.
    subject_age: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: The day the person's death was recorded, if it was (retention runs from it).
    subject_died_on: Mapped[date | None] = mapped_column(sa.Date)
    subject_age_band: Mapped[AgeBand | None] = mapped_column(str_enum(AgeBand, "age_band"))
    subject_sex: Mapped[Sex | None] = mapped_column(str_enum(Sex, "sex"))
    subject_ethnicity: Mapped[Ethnicity | None] = mapped_column(str_enum(Ethnicity, "ethnicity"))
    rcrp_phase: Mapped[RcrpPhase | None] = mapped_column(str_enum(RcrpPhase, "rcrp_phase"))
    area: Mapped[str | None] = mapped_column(sa.String(80))
    priority: Mapped[Priority] = mapped_column(sa.SmallInteger)
    #: Place within the priority (``Standing``); follows the answers and the limit.
    standing: Mapped[Standing] = mapped_column(sa.SmallInteger, server_default="0")
    #: Opened past the per-number limit on new requests (kept once set).
    over_limit: Mapped[bool] = mapped_column(server_default=sa.false())
    #: Later calls or messages from the same number that joined this request.
    joined_contacts: Mapped[int] = mapped_column(server_default="0")
    skills_needed: Mapped[list[Skill]] = mapped_column(sa.JSON, default=list)
    escalation_level: Mapped[EscalationLevel] = mapped_column(
        str_enum(EscalationLevel, "escalation_level"), default=EscalationLevel.SKILLS_REQUIRED
    )
    waiting_since: Mapped[datetime | None]
    answer_target_breached_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    wrap_up_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    abandoned_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    #: When a senior closed it as a nuisance call (its status is then ``cancelled``).
    nuisance_at: Mapped[datetime | None]

    officer: Mapped[Officer | None] = relationship()
    offers: Mapped[list[Offer]] = relationship(
        back_populates="request", order_by="Offer.id", cascade="all, delete-orphan"
    )

    @property
    def reference(self) -> str:
        """Return the short reference officers quote, such as ``AL-1234``."""
        return f"{REFERENCE_PREFIX}{self.id}"


class OfferOutcome(enum.StrEnum):
    """How an offer ended; ``None`` while it is pending."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    RESCINDED = "rescinded"
    FAILED = "failed"
    HANDED_OVER = "handed_over"  # the taker handed the call to another clinician


_PENDING = sa.text("outcome IS NULL")
_ACCEPTED = sa.text("outcome = 'accepted'")


class Offer(Base):
    """A request offered to one clinician until it is answered or expires."""

    __tablename__ = "offer"
    __table_args__ = (
        # At most one accepted offer per request: the database enforces it.
        sa.Index(
            "uq_offer_one_accepted_per_request",
            "request_id",
            unique=True,
            sqlite_where=_ACCEPTED,
            postgresql_where=_ACCEPTED,
        ),
        sa.Index(
            "uq_offer_one_pending_per_request",
            "request_id",
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        sa.Index(
            "uq_offer_one_pending_per_clinician",
            "clinician_id",
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        sa.Index("ix_offer_request_clinician", "request_id", "clinician_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"))
    clinician_id: Mapped[int] = mapped_column(sa.ForeignKey("clinician.id"))
    offered_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    outcome: Mapped[OfferOutcome | None] = mapped_column(str_enum(OfferOutcome, "offer_outcome"))
    responded_at: Mapped[datetime | None]

    request: Mapped[AdviceRequest] = relationship(back_populates="offers")
    clinician: Mapped[Clinician] = relationship()


class SamePersonLink(Base):
    """A clinician's word that two requests concern the same person (earlier, later)."""

    __tablename__ = "same_person_link"
    __table_args__ = (
        sa.UniqueConstraint("earlier_request_id", "later_request_id"),
        sa.CheckConstraint("earlier_request_id < later_request_id", name="earlier_first"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    earlier_request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    later_request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), index=True)
    linked_by_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    linked_at: Mapped[datetime]
