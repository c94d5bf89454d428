"""Records: the consultation record, its checks (the law in ``law``), and drafts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle import law
from advice_line.lifecycle.errors import (
    IllegalTransition,
    InvalidInput,
)
from advice_line.lifecycle.law import POLICE_STATION_CONDITIONS
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import require_qualifying
from advice_line.lifecycle.steps import (
    S,
    accepted_offer,
    add_task,
    change_clinician_status,
    clinician_for_update,
    move,
    request_for_update,
    require,
)
from advice_line.lifecycle.tasks import finish_call_backs, safeguard_child
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    AgeBand,
    Clinician,
    ClinicianStatus,
    CommunityRoute,
    Ethnicity,
    OutcomeCode,
    PlaceOfSafety,
    RcrpPhase,
    RecordStatus,
    RequestStatus,
    Sex,
    TaskKind,
)
from advice_line.models.base import column_length

SAFEGUARDING_QUESTIONS: dict[str, str] = {
    "under_18_in_crisis": "Is the person in crisis under 18?",
    "children_in_household": "Are there children in the household?",
    "person_is_carer": "Is the person a carer for someone?",
    "domestic_abuse": "Is there any indication of domestic abuse?",
    "vulnerable_adult": "Is the person an adult at risk (care and support needs)?",
    "looked_after_child": "Is the person a looked-after child (in local authority care)?",
}
#: Outcomes after which only the outcome itself can be known.
ONLY_OUTCOME_KNOWN = frozenset({OutcomeCode.CALL_INCOMPLETE})


@dataclass(frozen=True)
class RecordInput:
    """The clinician's consultation record as submitted (a draft, or for completion).

    ``safeguarding`` maps each question to yes (True), no (False) or not known (None).
    ``risk_to_life``, ``subject_under_18`` and ``in_dwelling`` are the clinician's own
    answers to the key questions; None leaves the officer's answer as it is.
    """

    outcome: OutcomeCode | None
    place_of_safety: PlaceOfSafety | None = None
    police_station_imminent_risk: bool | None = None
    police_station_no_other_place: bool | None = None
    police_station_health_professional: bool | None = None
    police_station_inspector_authorised: bool | None = None
    community_route: CommunityRoute | None = None
    destination: str | None = None
    rationale: str | None = None
    safeguarding: Mapping[str, bool | None] = field(default_factory=dict)
    follow_up: str | None = None
    follow_up_due_at: datetime | None = None
    risk_to_life: bool | None = None
    subject_under_18: bool | None = None
    in_dwelling: bool | None = None
    subject_age: int | None = None
    subject_age_band: AgeBand | None = None
    subject_sex: Sex | None = None
    subject_ethnicity: Ethnicity | None = None
    rcrp_phase: RcrpPhase | None = None
    area: str | None = None

    @property
    def police_station_facts(self) -> dict[str, bool | None]:
        """The 2017 Regulations' conditions as the officer gave them."""
        return {name: getattr(self, name) for name in POLICE_STATION_CONDITIONS}


def _length_errors(record: RecordInput) -> dict[str, str]:
    return {
        name: f"Must be at most {column_length(model, name)} characters."
        for model, name in (
            (AdviceRecord, "destination"),
            (AdviceRecord, "follow_up"),
            (AdviceRequest, "area"),
        )
        if len(getattr(record, name) or "") > column_length(model, name)
    }


def _safeguarding_errors(record: RecordInput) -> dict[str, str]:
    unknown = set(record.safeguarding) - set(SAFEGUARDING_QUESTIONS)
    if unknown:
        return {"safeguarding": f"Unknown safeguarding questions: {', '.join(sorted(unknown))}."}
    if record.outcome in ONLY_OUTCOME_KNOWN:
        return {}
    return {
        question: "Answer yes, no or not known."  # each question is shown where it is asked
        for question in SAFEGUARDING_QUESTIONS
        if question not in record.safeguarding
    }


def validate_record(
    record: RecordInput,
    request: AdviceRequest,
    policy: RoutingPolicy,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """Return the errors that stop this record from being completed, by field.

    The legal checks (s136(1A), s136A, the 2017 Regulations) are explained in
    docs/DOMAIN.md#legal-rules.
    """
    errors: dict[str, str] = {}
    if record.outcome is None:
        errors["outcome"] = "Choose the advice given."
    errors |= law.advice_errors(
        record.outcome,
        place_of_safety=record.place_of_safety,
        community_route=record.community_route,
        police_station_facts=record.police_station_facts,
        facts=law.key_facts(request, record),
        child=law.under_18_by_any_indicator(
            request, record, age_band=record.subject_age_band, age=record.subject_age
        ),
        policy=policy,
    )
    errors |= law.age_errors(
        law.key_facts(request, record).under_18,
        record.subject_age_band or request.subject_age_band,
        record.subject_age if record.subject_age is not None else request.subject_age,
    )
    known_only_outcome = record.outcome in ONLY_OUTCOME_KNOWN
    needs_destination = record.outcome not in {None, OutcomeCode.S136_ADVISED}
    if needs_destination and not known_only_outcome and not (record.destination or "").strip():
        errors.setdefault("destination", "Say where the person is going now.")
    if record.outcome == OutcomeCode.COMMUNITY_ROUTE and record.community_route is None:
        errors["community_route"] = "Choose the community route."
    if record.follow_up and record.follow_up_due_at is None:
        errors["follow_up_due_at"] = "Say when the follow-up is due."
    elif record.follow_up_due_at is not None and now is not None and record.follow_up_due_at < now:
        errors["follow_up_due_at"] = "The follow-up's due time has already passed."
    errors |= _length_errors(record) | _safeguarding_errors(record)
    if not known_only_outcome and not (record.rationale or "").strip():
        errors["rationale"] = "Give the rationale for the advice."
    return errors


def _record_fields(advice: AdviceRecord, record: RecordInput, request: AdviceRequest) -> None:
    for name in (
        "subject_age",
        "subject_age_band",
        "subject_sex",
        "subject_ethnicity",
        "rcrp_phase",
        "area",
    ):
        if getattr(record, name) is not None:
            setattr(request, name, getattr(record, name))
    for name in (
        "outcome",
        "place_of_safety",
        *POLICE_STATION_CONDITIONS,
        "community_route",
        "destination",
        "rationale",
        "follow_up",
        "follow_up_due_at",
        "risk_to_life",
        "subject_under_18",
        "in_dwelling",
    ):
        setattr(advice, name, getattr(record, name))
    advice.safeguarding = dict(record.safeguarding)


def given_by(clinician: Clinician) -> dict[str, str | None]:
    """Who gives the advice, as registered now: kept on the record as it is completed."""
    return {
        "given_by_profession": clinician.profession.value,
        "given_by_registration_body": (
            clinician.registration_body.value if clinician.registration_body else None
        ),
        "given_by_registration_number": clinician.registration_number,
    }


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
    # Qualifying when the advice was given: a lapse since then does not strand the record.
    require_qualifying(clinician, policy, now=offer.responded_at or now)
    errors = validate_record(record, request, policy, now=now)
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
    for name, value in given_by(clinician).items():
        setattr(advice, name, value)
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
            )
    if law.under_18_by_any_indicator(request, advice):
        safeguard_child(session, request, now=now, actor=actor, policy=policy)
    if record.follow_up and record.follow_up_due_at is not None:
        add_task(
            session,
            TaskKind.FOLLOW_UP,
            request,
            record.follow_up,
            now=now,
            due_at=record.follow_up_due_at,
            actor=actor,
            owner_user_id=clinician.user_id,
        )
    finish_call_backs(session, request.id, clinician.user_id, now=now, actor=actor)
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
    errors = _length_errors(record) | law.age_errors(
        record.subject_under_18, record.subject_age_band, record.subject_age
    )
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
