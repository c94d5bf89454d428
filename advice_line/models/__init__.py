"""Typed SQLAlchemy models, one module per aggregate."""

from advice_line.models.audit import AuditEvent
from advice_line.models.base import Base
from advice_line.models.clinician import (
    Clinician,
    ClinicianSkill,
    ClinicianStatus,
    Profession,
    RegistrationBody,
    Role,
    SessionEnd,
    Shift,
    Skill,
    User,
    UserSession,
)
from advice_line.models.detention import (
    Conveyance,
    Detention,
    OfficerDecision,
    PlaceOfSafetyUsed,
    PoliceVehicleReason,
    ReportedVia,
)
from advice_line.models.officer import Officer, OfficerPhone
from advice_line.models.record import (
    AdviceRecord,
    CommunityRoute,
    OutcomeCode,
    PlaceOfSafety,
    RecordStatus,
)
from advice_line.models.report import RequestFact
from advice_line.models.request import (
    AdviceRequest,
    AgeBand,
    Channel,
    EscalationLevel,
    Ethnicity,
    Offer,
    OfferOutcome,
    Priority,
    RcrpPhase,
    RequestStatus,
    Sex,
)
from advice_line.models.task import Task, TaskKind
from advice_line.models.telephony import (
    ENDED_CALL_STATUSES,
    CallLeg,
    CallStatus,
    LegRole,
    Message,
    MessageDirection,
)
from advice_line.models.timer import Timer, TimerKind

__all__ = [
    "ENDED_CALL_STATUSES",
    "AdviceRecord",
    "AdviceRequest",
    "AgeBand",
    "AuditEvent",
    "Base",
    "CallLeg",
    "CallStatus",
    "Channel",
    "Clinician",
    "ClinicianSkill",
    "ClinicianStatus",
    "CommunityRoute",
    "Conveyance",
    "Detention",
    "EscalationLevel",
    "Ethnicity",
    "LegRole",
    "Message",
    "MessageDirection",
    "Offer",
    "OfferOutcome",
    "Officer",
    "OfficerDecision",
    "OfficerPhone",
    "OutcomeCode",
    "PlaceOfSafety",
    "PlaceOfSafetyUsed",
    "PoliceVehicleReason",
    "Priority",
    "Profession",
    "RcrpPhase",
    "RecordStatus",
    "RegistrationBody",
    "ReportedVia",
    "RequestFact",
    "RequestStatus",
    "Role",
    "SessionEnd",
    "Sex",
    "Shift",
    "Skill",
    "Task",
    "TaskKind",
    "Timer",
    "TimerKind",
    "User",
    "UserSession",
]
