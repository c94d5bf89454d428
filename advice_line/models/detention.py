"""What the officer decided and, when they detained, how the detention went.

Kept apart from the advice (``AdviceRecord``): the clinician advises, the officer decides,
and the officer's report can come before, during or after the record.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from advice_line.models.base import Base, str_enum
from advice_line.models.request import AdviceRequest


class OfficerDecision(enum.StrEnum):
    """What the officer reported doing."""

    DETAINED = "detained"
    NOT_DETAINED = "not_detained"


class ReportedVia(enum.StrEnum):
    """How the officer's decision or a detention time reached the line."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    KEYPAD = "keypad"
    CLINICIAN = "clinician"
    SENIOR = "senior"


class PlaceOfSafetyUsed(enum.StrEnum):
    """Where a detained person was actually taken (the Home Office return's groups)."""

    HEALTH_BASED = "health_based"
    EMERGENCY_DEPARTMENT = "emergency_department"
    POLICE_STATION = "police_station"
    OTHER = "other"


class Conveyance(enum.StrEnum):
    """How a detained person was taken to the place of safety."""

    AMBULANCE = "ambulance"
    POLICE_VEHICLE = "police_vehicle"
    OTHER = "other"


class PoliceVehicleReason(enum.StrEnum):
    """Why a police vehicle was used instead of an ambulance (asked by the return)."""

    AMBULANCE_UNAVAILABLE = "ambulance_unavailable"
    AMBULANCE_DELAYED = "ambulance_delayed"
    RISK_OF_VIOLENCE = "risk_of_violence"
    OTHER = "other"


class Detention(Base):
    """The officer's decision on one request and, if detained, its times and conveyance.

    The 24-hour clock runs from ``arrived_at`` (12 more hours once ``extended_at`` is set).
    """

    __tablename__ = "detention"
    __table_args__ = (sa.Index("ix_detention_arrived_at", "arrived_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), unique=True)
    decision: Mapped[OfficerDecision | None] = mapped_column(
        str_enum(OfficerDecision, "officer_decision")
    )
    decision_reported_at: Mapped[datetime | None]
    decision_reported_via: Mapped[ReportedVia | None] = mapped_column(
        str_enum(ReportedVia, "reported_via")
    )
    place_of_safety_used: Mapped[PlaceOfSafetyUsed | None] = mapped_column(
        str_enum(PlaceOfSafetyUsed, "place_of_safety_used")
    )
    conveyance: Mapped[Conveyance | None] = mapped_column(str_enum(Conveyance, "conveyance"))
    police_vehicle_reason: Mapped[PoliceVehicleReason | None] = mapped_column(
        str_enum(PoliceVehicleReason, "police_vehicle_reason")
    )
    detained_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    handed_over_at: Mapped[datetime | None]
    extended_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    request: Mapped[AdviceRequest] = relationship()
