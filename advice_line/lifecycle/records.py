"""Records: the consultation record and its legal checks, drafts, the officer's decision,
and tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
)
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.steps import (
    S,
    accepted_offer,
    add_task,
    change_clinician_status,
    clinician_for_update,
    move,
    request_for_update,
    require,
    require_qualifying,
)
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    ClinicianStatus,
    CommunityRoute,
    Ethnicity,
    OfficerDecision,
    OutcomeCode,
    PlaceOfSafety,
    RcrpPhase,
    RecordStatus,
    RequestStatus,
    Sex,
    Task,
    TaskKind,
)
from advice_line.models.base import column_length

SAFEGUARDING_QUESTIONS: dict[str, str] = {
    "under_18_in_crisis": "Is the person in crisis under 18?",
    "children_in_household": "Are there children in the household?",
    "person_is_carer": "Is the person a carer for someone?",
    "domestic_abuse": "Is there any indication of domestic abuse?",
}


@dataclass(frozen=True)
class RecordInput:
    """The clinician's consultation record as submitted for completion."""

    outcome: OutcomeCode | None
    place_of_safety: PlaceOfSafety | None = None
    police_station_authorised: bool = False
    community_route: CommunityRoute | None = None
    destination: str | None = None
    rationale: str | None = None
    safeguarding: Mapping[str, bool] = field(default_factory=dict)
    follow_up: str | None = None
    subject_age_band: AgeBand | None = None
    subject_sex: Sex | None = None
    subject_ethnicity: Ethnicity | None = None
    rcrp_phase: RcrpPhase | None = None
    area: str | None = None


def validate_record(
    record: RecordInput, request: AdviceRequest, policy: RoutingPolicy
) -> dict[str, str]:
    """Return the errors that stop this record from being completed, by field.

    The legal checks (s136(1A), s136A, the 2017 Regulations) are explained in
    docs/DOMAIN.md#legal-rules.
    """
    errors: dict[str, str] = {}
    if record.outcome is None:
        errors["outcome"] = "Choose the advice given."
    if record.outcome == OutcomeCode.S136_ADVISED:
        if request.in_dwelling:
            errors["outcome"] = (
                "Section 136 cannot be used in a private dwelling (s136(1A)); "
                "choose the s135 / AMHP route or another outcome."
            )
        if record.place_of_safety is None:
            errors["place_of_safety"] = "Recommend a place of safety."
        elif record.place_of_safety == PlaceOfSafety.POLICE_STATION:
            if request.subject_under_18 and not policy.police_station_for_under_18:
                errors["place_of_safety"] = (
                    "A police station may never be the place of safety for under-18s (s136A)."
                )
            elif policy.police_station_needs_authorisation and not record.police_station_authorised:
                errors["police_station_authorised"] = (
                    "A police station needs an imminent risk of serious harm and an "
                    "inspector's authorisation."
                )
    elif record.outcome is not None and not (record.destination or "").strip():
        errors["destination"] = "Say where the person is going now."
    if record.outcome == OutcomeCode.COMMUNITY_ROUTE and record.community_route is None:
        errors["community_route"] = "Choose the community route."
    if record.area is not None and len(record.area) > column_length(AdviceRequest, "area"):
        errors["area"] = f"Must be at most {column_length(AdviceRequest, 'area')} characters."
    for name in ("destination", "follow_up"):
        value = getattr(record, name)
        limit = column_length(AdviceRecord, name)
        if value is not None and len(value) > limit:
            errors[name] = f"Must be at most {limit} characters."
    unknown = set(record.safeguarding) - set(SAFEGUARDING_QUESTIONS)
    unanswered = [q for q in SAFEGUARDING_QUESTIONS if q not in record.safeguarding]
    if unknown:
        errors["safeguarding"] = f"Unknown safeguarding questions: {', '.join(sorted(unknown))}."
    elif unanswered:
        errors["safeguarding"] = f"Answer every safeguarding question ({', '.join(unanswered)})."
    if not (record.rationale or "").strip():
        errors["rationale"] = "Give the rationale for the advice."
    return errors


def _record_fields(advice: AdviceRecord, record: RecordInput, request: AdviceRequest) -> None:
    for name in ("subject_age_band", "subject_sex", "subject_ethnicity", "rcrp_phase", "area"):
        if getattr(record, name) is not None:
            setattr(request, name, getattr(record, name))
    advice.outcome = record.outcome
    advice.place_of_safety = record.place_of_safety
    advice.police_station_authorised = record.police_station_authorised
    advice.community_route = record.community_route
    advice.destination = record.destination
    advice.rationale = record.rationale
    advice.safeguarding = dict(record.safeguarding)
    advice.follow_up = record.follow_up


def complete_record(
    session: Session,
    request_id: int,
    clinician_id: int,
    record: RecordInput,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> AdviceRecord:
    """Complete the consultation record and close the request; create the tasks it needs."""
    request = request_for_update(session, request_id)
    if request.status in {RequestStatus.ACCEPTED, RequestStatus.CONNECTED}:
        raise IllegalTransition(
            f"{request.reference} is still in progress: end the call or conversation first, "
            "then complete the record."
        )
    require(request, RequestStatus.CLOSED)
    offer = accepted_offer(session, request)
    if offer.clinician_id != clinician_id:
        raise IllegalTransition("Only the clinician who gave the advice can complete the record.")
    clinician = clinician_for_update(session, clinician_id)
    require_qualifying(clinician, policy)
    errors = validate_record(record, request, policy)
    if errors:
        raise InvalidInput(errors)
    advice = session.scalars(
        select(AdviceRecord).where(AdviceRecord.request_id == request.id)
    ).one_or_none()
    if advice is None:
        advice = AdviceRecord(request_id=request.id, clinician_id=clinician.id, created_at=now)
        session.add(advice)
    advice.status = RecordStatus.COMPLETE
    _record_fields(advice, record, request)
    advice.completed_at = now
    session.flush()
    for question, answer in record.safeguarding.items():
        if answer:
            add_task(
                session,
                TaskKind.SAFEGUARDING,
                request,
                f"Safeguarding: {SAFEGUARDING_QUESTIONS[question]}",
                now=now,
                due_at=now + policy.safeguarding_due,
                actor=actor,
                owner_user_id=clinician.user_id,
            )
    if record.follow_up:
        add_task(
            session,
            TaskKind.FOLLOW_UP,
            request,
            record.follow_up,
            now=now,
            due_at=now + policy.follow_up_due,
            actor=actor,
            owner_user_id=clinician.user_id,
        )
    change_clinician_status(
        session, clinician, ClinicianStatus.AVAILABLE, now=now, actor=actor, starts_idle=True
    )
    move(
        session,
        request,
        RequestStatus.CLOSED,
        now=now,
        actor=actor,
        action="closed",
        detail={
            "record_id": advice.id,
            "outcome": advice.outcome.value if advice.outcome else None,
        },
    )
    return advice


def save_draft(
    session: Session,
    request_id: int,
    clinician_id: int,
    record: RecordInput,
    *,
    now: datetime,
    actor: Actor,
) -> AdviceRecord:
    """Keep the clinician's unfinished record; nothing is checked but lengths."""
    request = request_for_update(session, request_id)
    if request.status not in {RequestStatus.ACCEPTED, RequestStatus.CONNECTED, S.WRAP_UP}:
        raise IllegalTransition(f"Request {request.reference} is not being advised on.")
    if accepted_offer(session, request).clinician_id != clinician_id:
        raise IllegalTransition("Only the clinician who took the request can write its record.")
    errors = {
        name: f"Must be at most {column_length(model, name)} characters."
        for model, name in (
            (AdviceRecord, "destination"),
            (AdviceRecord, "follow_up"),
            (AdviceRequest, "area"),
        )
        if len(getattr(record, name) or "") > column_length(model, name)
    }
    if errors:
        raise InvalidInput(errors)
    advice = session.scalars(
        select(AdviceRecord).where(AdviceRecord.request_id == request.id)
    ).one_or_none()
    if advice is None:
        advice = AdviceRecord(request_id=request.id, clinician_id=clinician_id, created_at=now)
        session.add(advice)
    _record_fields(advice, record, request)
    session.flush()
    record_event(
        session,
        actor,
        "record.draft_saved",
        now=now,
        request_id=request.id,
        subject=("advice_record", advice.id),
    )
    return advice


def report_officer_decision(
    session: Session, request_id: int, decision: OfficerDecision, *, now: datetime, actor: Actor
) -> AdviceRecord:
    """Record what the officer decided, apart from the advice; a later report corrects it."""
    request = request_for_update(session, request_id)
    advice = session.scalars(
        select(AdviceRecord).where(
            AdviceRecord.request_id == request.id, AdviceRecord.status == RecordStatus.COMPLETE
        )
    ).one_or_none()
    if advice is None:
        raise IllegalTransition(
            f"The advice on {request.reference} is not recorded yet; report the decision "
            "once the clinician has completed it."
        )
    previous = advice.officer_decision
    advice.officer_decision = decision
    advice.officer_decision_at = now
    record_event(
        session,
        actor,
        "record.officer_decision",
        now=now,
        request_id=request.id,
        subject=("advice_record", advice.id),
        detail={"decision": decision.value, "previous": previous.value if previous else None},
    )
    session.flush()
    return advice


def complete_task(
    session: Session, task_id: int, user_id: int, *, now: datetime, actor: Actor
) -> Task:
    """Mark a task done: one's own, or an unowned one (which becomes one's own)."""
    task = session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"There is no task {task_id}.")
    if task.done_at is not None:
        raise IllegalTransition("This task is already done.")
    if task.owner_user_id not in {None, user_id}:
        raise IllegalTransition("This task belongs to someone else.")
    task.owner_user_id = user_id
    task.done_at = now
    task.done_by_user_id = user_id
    record_event(
        session, actor, "task.done", now=now, request_id=task.request_id, subject=("task", task.id)
    )
    session.flush()
    return task
