"""Tasks: follow-ups, safeguarding and call-backs, which belong to the whole team.

Any clinician can take a task or finish it, so a shift change never orphans one; who took
it, who finished it and, for safeguarding, the referral made, are kept and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotFound
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.steps import add_task
from advice_line.models import AdviceRequest, Task, TaskKind
from advice_line.models.base import column_length

CHILD_SAFEGUARDING = (
    "Safeguarding: the person is under 18; consider a referral to children's services."
)


@dataclass(frozen=True)
class Referral:
    """A safeguarding referral: the agency told, their reference, what came of it."""

    agency: str | None = None
    reference: str | None = None
    outcome: str | None = None


def safeguard_child(
    session: Session, request: AdviceRequest, *, now: datetime, actor: Actor, policy: RoutingPolicy
) -> Task | None:
    """Make sure a request about a child has its safeguarding task (once); return a new one."""
    exists = session.scalar(
        select(Task.id).where(
            Task.request_id == request.id,
            Task.kind == TaskKind.SAFEGUARDING,
            Task.description == CHILD_SAFEGUARDING,
        )
    )
    if exists is not None:
        return None
    return add_task(
        session,
        TaskKind.SAFEGUARDING,
        request,
        CHILD_SAFEGUARDING,
        now=now,
        due_at=now + policy.safeguarding_due,
        actor=actor,
    )


def _open_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id, with_for_update=True, populate_existing=True)
    if task is None:
        raise NotFound(f"There is no task {task_id}.")
    if task.done_at is not None:
        raise IllegalTransition("This task is already done.")
    return task


def take_task(session: Session, task_id: int, user_id: int, *, now: datetime, actor: Actor) -> Task:
    """Make an open task one's own (from nobody, or from a colleague who handed over)."""
    task = _open_task(session, task_id)
    previous = task.owner_user_id
    if previous == user_id:
        return task
    task.owner_user_id = user_id
    record_event(
        session,
        actor,
        "task.taken",
        now=now,
        request_id=task.request_id,
        subject=("task", task.id),
        detail={"from_user_id": previous},
    )
    session.flush()
    return task


def _referral_errors(task: Task, referral: Referral) -> dict[str, str]:
    errors = {
        f"referral_{name}": f"Must be at most {column_length(Task, f'referral_{name}')} characters."
        for name in ("agency", "reference", "outcome")
        if len(getattr(referral, name) or "") > column_length(Task, f"referral_{name}")
    }
    if task.kind == TaskKind.SAFEGUARDING and not (referral.outcome or "").strip():
        errors.setdefault(
            "referral_outcome",
            "Say what was done: the referral made, or why none was needed.",
        )
    return errors


def complete_task(
    session: Session,
    task_id: int,
    user_id: int,
    *,
    now: datetime,
    actor: Actor,
    referral: Referral | None = None,
) -> Task:
    """Mark a task done; a safeguarding task says what was done about it."""
    task = _open_task(session, task_id)
    referral = referral or Referral()
    errors = _referral_errors(task, referral)
    if errors:
        raise InvalidInput(errors)
    if task.owner_user_id is None:
        task.owner_user_id = user_id
    task.done_at = now
    task.done_by_user_id = user_id
    task.referral_agency = (referral.agency or "").strip() or None
    task.referral_reference = (referral.reference or "").strip() or None
    task.referral_outcome = (referral.outcome or "").strip() or None
    record_event(
        session,
        actor,
        "task.done",
        now=now,
        request_id=task.request_id,
        subject=("task", task.id),
        detail={"referral_agency": task.referral_agency} if task.referral_agency else None,
    )
    session.flush()
    return task


def finish_call_backs(
    session: Session, request_id: int, user_id: int, *, now: datetime, actor: Actor
) -> None:
    """The officer was called back and the record completed: the request's open
    call-back tasks are done, by the clinician who completed it."""
    open_tasks = session.scalars(
        select(Task.id).where(
            Task.request_id == request_id,
            Task.kind == TaskKind.CALL_BACK,
            Task.done_at.is_(None),
        )
    ).all()
    for task_id in open_tasks:
        complete_task(session, task_id, user_id, now=now, actor=actor)
