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
    Shift,
    Skill,
    User,
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
from advice_line.models.outbox import (
    OPEN_STATES,
    OutboxItem,
    OutboxKind,
    OutboxPurpose,
    OutboxState,
)
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
    "OPEN_STATES",
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
    "OutboxItem",
    "OutboxKind",
    "OutboxPurpose",
    "OutboxState",
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
    "Sex",
    "Shift",
    "Skill",
    "Task",
    "TaskKind",
    "Timer",
    "TimerKind",
    "User",
]
