"""The officer's answers: the phone menu's intake, and the key questions on any channel.

Priority and skills follow the answers; an unanswered risk question ranks as risk to life.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle import signals
from advice_line.lifecycle.errors import (
    IllegalTransition,
    InvalidInput,
)
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.steps import (
    S,
    request_for_update,
)
from advice_line.lifecycle.tasks import safeguard_child
from advice_line.models import (
    AdviceRequest,
    Priority,
    RequestStatus,
    Skill,
    Standing,
)
from advice_line.models.base import column_length


@dataclass(frozen=True)
class IntakeAnswers:
    """What the officer has told the line so far during intake (None: not asked yet)."""

    claimed_collar_number: str | None = None
    claimed_force: str | None = None
    officer_id: int | None = None
    risk_to_life: bool | None = None
    subject_under_18: bool | None = None
    in_dwelling: bool | None = None


def priority_and_skills(
    *, risk_to_life: bool | None, subject_under_18: bool | None, skills_needed: frozenset[Skill]
) -> tuple[Priority, list[Skill]]:
    """Risk to life first (unanswered counts as yes), then under-18s (who also need CAMHS),
    then everyone else."""
    skills = set(skills_needed) | ({Skill.CAMHS} if subject_under_18 else set())
    if risk_to_life is not False:
        priority = Priority.RISK_TO_LIFE
    elif subject_under_18:
        priority = Priority.UNDER_18
    else:
        priority = Priority.ROUTINE
    return priority, sorted(skills)


#: What a caller can tell the line: who they are and the key questions.
ANSWER_FIELDS = (
    "claimed_collar_number",
    "claimed_force",
    "risk_to_life",
    "subject_under_18",
    "in_dwelling",
)


def standing_of(request: AdviceRequest) -> Standing:
    """Where the request stands within its priority (docs/DOMAIN.md#priorities): past the
    per-number limit, unverified with no answers, or answered (or a verified officer)."""
    if request.over_limit:
        return Standing.OVER_LIMIT
    answered = any(getattr(request, name) is not None for name in ANSWER_FIELDS)
    if request.officer_verified or answered:
        return Standing.ANSWERED
    return Standing.UNVERIFIED_SILENT


def _apply(request: AdviceRequest, answers: dict[str, object]) -> None:
    """Set the answers on the request; its priority, skills and standing follow them."""
    for name, value in answers.items():
        setattr(request, name, value)
    request.priority, request.skills_needed = priority_and_skills(
        risk_to_life=request.risk_to_life,
        subject_under_18=request.subject_under_18,
        skills_needed=frozenset(Skill(s) for s in request.skills_needed),
    )
    request.standing = standing_of(request)


def record_intake(
    session: Session, request_id: int, answers: IntakeAnswers, *, now: datetime, actor: Actor
) -> AdviceRequest:
    """Store intake answers on a request still in ``received``; priority follows them."""
    request = request_for_update(session, request_id)
    if request.status != RequestStatus.RECEIVED:
        raise IllegalTransition(f"Request {request.reference} is already past intake.")
    given = {k: v for k, v in answers.__dict__.items() if v is not None}
    for name in ("claimed_collar_number", "claimed_force"):
        if name in given and len(given[name]) > column_length(AdviceRequest, name):
            raise InvalidInput({name: "is too long"})
    _apply(request, given)
    record_event(
        session,
        actor,
        "request.intake",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail={k: v for k, v in given.items() if k != "officer_id"},
    )
    session.flush()
    return request


@dataclass(frozen=True)
class KeyAnswers:
    """The officer's answers to the key questions, on any channel (None: not answered)."""

    risk_to_life: bool | None = None
    subject_under_18: bool | None = None
    in_dwelling: bool | None = None


ANSWERABLE = frozenset(
    {S.RECEIVED, S.QUEUED, S.OFFERED, S.ACCEPTED, S.CONNECTED, S.WRAP_UP, S.ABANDONED}
)


def answer_key_questions(
    session: Session,
    request_id: int,
    answers: KeyAnswers,
    *,
    now: datetime,
    actor: Actor,
    policy: RoutingPolicy,
) -> AdviceRequest:
    """Store the officer's answers (by text, or late): priority and skills follow them."""
    request = request_for_update(session, request_id)
    if request.status not in ANSWERABLE:
        raise IllegalTransition(
            f"Request {request.reference} is {request.status.value}; its record has the facts now."
        )
    given = {k: v for k, v in answers.__dict__.items() if v is not None}
    if not given:
        raise InvalidInput({"answers": "Answer at least one of the questions."})
    changed = {k: v for k, v in given.items() if getattr(request, k) != v}
    _apply(request, changed)
    record_event(
        session,
        actor,
        "request.key_questions",
        now=now,
        request_id=request.id,
        subject=("advice_request", request.id),
        detail=given,
    )
    session.flush()
    if changed:
        signals.request_changed.send(request, old_status=request.status, action="answered")
    if request.subject_under_18 and request.status != S.RECEIVED:
        safeguard_child(session, request, now=now, actor=actor, policy=policy)
    return request
