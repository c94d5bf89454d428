"""The consultation record: what the clinician advised, and who they were."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from advice_line.models.base import Base, str_enum
from advice_line.models.clinician import Clinician
from advice_line.models.request import AdviceRequest


class OutcomeCode(enum.StrEnum):
    """What the clinician advised."""

    S136_ADVISED = "s136_advised"
    COMMUNITY_ROUTE = "community_route"
    S135_AMHP_ROUTE = "s135_amhp_route"
    MEDICAL_EMERGENCY = "medical_emergency"
    NO_MENTAL_HEALTH_ROLE = "no_mental_health_role"
    CLINICIAN_TO_ATTEND = "clinician_to_attend"
    CALL_INCOMPLETE = "call_incomplete"


class CommunityRoute(enum.StrEnum):
    """Where the person goes instead of detention."""

    CRISIS_TEAM = "crisis_team"
    HOME_TREATMENT_TEAM = "home_treatment_team"
    CRISIS_CAFE = "crisis_cafe"
    GP = "gp"
    VOLUNTARY_ED = "voluntary_ed"
    NHS_111_OPTION_2 = "nhs_111_option_2"


class PlaceOfSafety(enum.StrEnum):
    """Recommended place of safety when s136 is advised."""

    HEALTH_BASED = "health_based"
    EMERGENCY_DEPARTMENT = "emergency_department"
    POLICE_STATION = "police_station"


class RecordStatus(enum.StrEnum):
    """A record is a draft until completed; completing it closes the request."""

    DRAFT = "draft"
    COMPLETE = "complete"


class AdviceRecord(Base):
    """The consultation given on one request."""

    __tablename__ = "advice_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("advice_request.id"), unique=True)
    clinician_id: Mapped[int] = mapped_column(sa.ForeignKey("clinician.id"), index=True)
    status: Mapped[RecordStatus] = mapped_column(
        str_enum(RecordStatus, "record_status"), default=RecordStatus.DRAFT
    )
    outcome: Mapped[OutcomeCode | None] = mapped_column(str_enum(OutcomeCode, "outcome_code"))
    place_of_safety: Mapped[PlaceOfSafety | None] = mapped_column(
        str_enum(PlaceOfSafety, "place_of_safety")
    )
    #: The conditions for a police station (2017 Regulations), as the officer gave them.
    police_station_imminent_risk: Mapped[bool | None]
    police_station_no_other_place: Mapped[bool | None]
    police_station_health_professional: Mapped[bool | None]
    police_station_inspector_authorised: Mapped[bool | None]
    #: The clinician's own answers to the key questions (None: left as the officer said).
    risk_to_life: Mapped[bool | None]
    subject_under_18: Mapped[bool | None]
    in_dwelling: Mapped[bool | None]
    community_route: Mapped[CommunityRoute | None] = mapped_column(
        str_enum(CommunityRoute, "community_route")
    )
    destination: Mapped[str | None] = mapped_column(sa.String(200))
    rationale: Mapped[str | None] = mapped_column(sa.Text)
    safeguarding: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    follow_up: Mapped[str | None] = mapped_column(sa.String(500))
    follow_up_due_at: Mapped[datetime | None]
    #: Who gave the advice, as they were registered when the record was completed.
    given_by_profession: Mapped[str | None] = mapped_column(sa.String(30))
    given_by_registration_body: Mapped[str | None] = mapped_column(sa.String(10))
    given_by_registration_number: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    request: Mapped[AdviceRequest] = relationship()
    clinician: Mapped[Clinician] = relationship()
