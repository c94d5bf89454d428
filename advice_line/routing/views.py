"""The read side: what consoles, the senior's floor, the live board and ``/metrics`` show.

Plain reads over a session, with no Flask or sockets: every page, push and metric that
shows the queue, the floor or the board reads it here, so they all agree. What is read is
a view of the database, never the source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from advice_line.clock import london
from advice_line.lifecycle import WAITING, law
from advice_line.lifecycle.access import openable
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.qualification import qualifying_condition
from advice_line.models import (
    AdviceRecord,
    AdviceRequest,
    Channel,
    Clinician,
    ClinicianStatus,
    Message,
    MessageDirection,
    Offer,
    OfferOutcome,
    RequestFact,
    RequestStatus,
    Role,
    Shift,
    Standing,
    Task,
    TaskKind,
    User,
)

#: The order requests are served in: priority; within it answered (or verified) callers,
#: then unverified callers with no answers, then numbers past their limit
#: (docs/DOMAIN.md#priorities); then the longest waiting, then the first made.
QUEUE_ORDER: tuple[InstrumentedAttribute[Any], ...] = (
    AdviceRequest.priority,
    AdviceRequest.standing,
    AdviceRequest.waiting_since,
    AdviceRequest.id,
)
#: How each standing is shown wherever a request is (queue, console, floor, whisper).
STANDING_LABELS = {
    Standing.ANSWERED: None,
    Standing.UNVERIFIED_SILENT: "unverified, no answers",
    Standing.OVER_LIMIT: "over the limit for this number",
}
#: Each channel as people name it.
CHANNEL_LABELS = {Channel.VOICE: "Phone", Channel.SMS: "SMS", Channel.WHATSAPP: "WhatsApp"}
#: How many words of the officer's first message an offer shows.
FIRST_WORDS = 12
#: A request a clinician holds: taken, and not yet closed.
IN_HAND = (RequestStatus.ACCEPTED, RequestStatus.CONNECTED, RequestStatus.WRAP_UP)
#: An offer whose clinician holds (or held) its request.
TAKEN_OFFER = Offer.outcome == OfferOutcome.ACCEPTED


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _request_card(request: AdviceRequest, record: AdviceRecord | None = None) -> dict[str, Any]:
    """The minimum a console needs about a request (no personal details).

    The key facts are the officer's answers merged with the clinician's corrections on the
    record, if there is one (``law.key_facts``); ``unanswered`` names those still unknown.
    """
    facts = law.key_facts(request, record)
    return {
        "id": request.id,
        "reference": request.reference,
        "status": request.status.value,
        "channel": request.channel.value,
        "channel_label": CHANNEL_LABELS[request.channel],
        "force": request.officer.force if request.officer else request.claimed_force,
        "priority": int(request.priority),
        "risk_to_life": facts.risk_to_life,
        "under_18": facts.under_18,
        "in_dwelling": facts.in_dwelling,
        "unanswered": list(facts.unanswered),
        "unverified": not request.officer_verified,
        "standing": STANDING_LABELS[Standing(request.standing)],
        "joined_contacts": request.joined_contacts,
        "escalation": request.escalation_level.value,
        "breached": request.answer_target_breached_at is not None,
        "waiting_since": _iso(request.waiting_since),
        "skills": list(request.skills_needed),
    }


# --- the queue ------------------------------------------------------------------------


def queue(session: Session) -> list[dict[str, Any]]:
    """Waiting requests in the order they will be served."""
    waiting = session.scalars(
        select(AdviceRequest).where(AdviceRequest.status.in_(WAITING)).order_by(*QUEUE_ORDER)
    ).all()
    return [_request_card(r) for r in waiting]


def _ahead_of(request: AdviceRequest) -> sa.ColumnElement[bool]:
    """Requests that come before this one in QUEUE_ORDER."""
    *leading, last = QUEUE_ORDER
    ahead: sa.ColumnElement[bool] = last < getattr(request, last.key)
    for column in reversed(leading):
        value = getattr(request, column.key)
        ahead = sa.or_(column < value, sa.and_(column == value, ahead))
    return ahead


def queue_position(session: Session, request: AdviceRequest) -> int:
    """Return the request's place among waiting requests (1 is next)."""
    assert request.waiting_since is not None
    ahead = select(func.count(AdviceRequest.id)).where(
        AdviceRequest.status.in_(WAITING), _ahead_of(request)
    )
    return (session.scalar(ahead) or 0) + 1


# --- the clinicians -------------------------------------------------------------------


def on_shift(now: datetime) -> sa.ColumnElement[bool]:
    """The condition for a clinician on a rota shift now."""
    return (
        select(Shift.id)
        .where(Shift.clinician_id == Clinician.id, Shift.starts_at <= now, Shift.ends_at > now)
        .exists()
    )


def available_now(now: datetime, policy: RoutingPolicy) -> list[sa.ColumnElement[bool]]:
    """Conditions for a clinician who is qualifying, available, active and on shift now."""
    return [
        Clinician.status == ClinicianStatus.AVAILABLE,
        qualifying_condition(policy, now=now),
        User.active.is_(True),
        on_shift(now),
    ]


def seniors_on_shift(session: Session, now: datetime) -> list[tuple[int, str | None, bool]]:
    """Each active senior clinician on shift now: id, phone, and whether at a console."""
    rows = session.execute(
        select(Clinician.id, Clinician.phone, Clinician.on_console)
        .join(User, User.id == Clinician.user_id)
        .where(User.role == Role.SENIOR_CLINICIAN, User.active.is_(True), on_shift(now))
        .order_by(Clinician.id)
    )
    return [(clinician_id, phone, bool(at_console)) for clinician_id, phone, at_console in rows]


def count_available(session: Session, *, now: datetime, policy: RoutingPolicy) -> int:
    """Count clinicians who could take an offer now, whatever their skills."""
    query = (
        select(func.count(Clinician.id))
        .join(User, User.id == Clinician.user_id)
        .where(*available_now(now, policy))
    )
    return session.scalar(query) or 0


def count_on_duty(session: Session, *, now: datetime, policy: RoutingPolicy) -> int:
    """Count qualifying clinicians on shift now and signed in (available or busy alike)."""
    query = (
        select(func.count(Clinician.id))
        .join(User, User.id == Clinician.user_id)
        .where(
            Clinician.status != ClinicianStatus.OFFLINE,
            qualifying_condition(policy, now=now),
            User.active.is_(True),
            on_shift(now),
        )
    )
    return session.scalar(query) or 0


def floor(session: Session) -> list[dict[str, Any]]:
    """Every clinician's status, for senior clinicians."""
    rows = session.execute(
        select(Clinician, User.display_name)
        .join(User, User.id == Clinician.user_id)
        .where(User.active.is_(True))
        .order_by(User.display_name)
    ).all()
    return [
        {
            "clinician_id": clinician.id,
            "name": name,
            "status": clinician.status.value,
            "on_console": clinician.on_console,
            "since": _iso(clinician.status_changed_at),
        }
        for clinician, name in rows
    ]


def marked_available(session: Session) -> list[tuple[int, str]]:
    """Clinicians marked available, by name: whom a senior may give a request to."""
    rows = session.execute(
        select(Clinician.id, User.display_name)
        .join(User, User.id == Clinician.user_id)
        .where(Clinician.status == ClinicianStatus.AVAILABLE)
        .order_by(User.display_name)
    )
    return [(clinician_id, name) for clinician_id, name in rows]


# --- who holds what -------------------------------------------------------------------


def holder(session: Session, request_id: int) -> int | None:
    """The clinician who took the request, if anyone has."""
    return session.scalar(
        select(Offer.clinician_id).where(Offer.request_id == request_id, TAKEN_OFFER)
    )


def count_in_hand(session: Session) -> int:
    """Count the requests clinicians hold now."""
    query = select(func.count(AdviceRequest.id)).where(AdviceRequest.status.in_(IN_HAND))
    return session.scalar(query) or 0


def mine(session: Session, clinician_id: int, now: datetime) -> dict[str, Any]:
    """One clinician's own view: status, the offer they hold, the requests in their hands."""
    clinician = session.get_one(Clinician, clinician_id)
    offer = session.scalars(
        select(Offer).where(Offer.clinician_id == clinician_id, Offer.outcome.is_(None))
    ).one_or_none()
    in_hand = session.scalars(
        select(AdviceRequest)
        .join(Offer, Offer.request_id == AdviceRequest.id)
        .where(
            Offer.clinician_id == clinician_id,
            TAKEN_OFFER,
            AdviceRequest.status.in_(IN_HAND),
        )
        .order_by(AdviceRequest.id)
    ).all()
    records = {
        record.request_id: record
        for record in session.scalars(
            select(AdviceRecord).where(AdviceRecord.request_id.in_([r.id for r in in_hand]))
        )
    }
    open_tasks = session.scalar(
        select(Task.id)
        .where(Task.owner_user_id == clinician.user_id, Task.done_at.is_(None))
        .limit(1)
    )
    return {
        "status": clinician.status.value,
        "available": clinician.status == ClinicianStatus.AVAILABLE,
        "offer": None
        if offer is None
        else {
            "offer_id": offer.id,
            "expires_at": _iso(offer.expires_at),
            "seconds_left": max(0, round((offer.expires_at - now).total_seconds())),
            "first_words": first_words(session, offer.request_id),
            # Counted from here in the browser, whatever its own clock says.
            "waited_seconds": max(
                0, round((now - (offer.request.waiting_since or now)).total_seconds())
            ),
            **_request_card(offer.request),
        },
        "in_hand": [_request_card(r, records.get(r.id)) for r in in_hand],
        "has_tasks": open_tasks is not None,
        "now": london(now),
    }


def first_words(session: Session, request_id: int) -> str | None:
    """The start of the officer's first message on the request, if they wrote one."""
    body = session.scalar(
        select(Message.body)
        .where(Message.request_id == request_id, Message.direction == MessageDirection.INBOUND)
        .order_by(Message.id)
        .limit(1)
    )
    if body is None:
        return None
    words = body.split()
    return " ".join(words[:FIRST_WORDS]) + ("…" if len(words) > FIRST_WORDS else "")


def thread(session: Session, request_id: int) -> list[dict[str, Any]]:
    """A request's messages, oldest first, as its page shows them."""
    messages = session.scalars(
        select(Message).where(Message.request_id == request_id).order_by(Message.id)
    )
    return [
        {
            "id": m.id,
            "direction": m.direction.value,
            "body": m.body,
            "at": london(m.created_at),
            "delivery": m.delivery,
        }
        for m in messages
    ]


def may_open(
    session: Session, request_id: int, *, user_id: int, role: Role, clinician_id: int | None
) -> bool:
    """Whether a console user may open the request (docs/DOMAIN.md#tasks): a senior any;
    a clinician one they took, one with an open task, or one they took or finished a task on."""
    rule = openable(user_id=user_id, role=role, clinician_id=clinician_id)
    query = select(AdviceRequest.id).where(AdviceRequest.id == request_id, rule)
    return session.scalar(query) is not None


# --- the team's tasks -----------------------------------------------------------------


@dataclass(frozen=True)
class TeamTask:
    """An open task as the tasks page shows it: its request and who has taken it."""

    task: Task
    request: AdviceRequest | None
    taken_by: str | None


#: Each kind of task as the pages name it.
TASK_KIND_LABELS = {
    TaskKind.CALL_BACK: "Call the officer back",
    TaskKind.SAFEGUARDING: "Safeguarding",
    TaskKind.FOLLOW_UP: "Follow-up",
    TaskKind.DETENTION_CLOCK: "Detention clock",
}


def team_tasks(session: Session) -> list[TeamTask]:
    """Every open task of the team by urgency: overdue first, then the soonest due."""
    rows = session.execute(
        select(Task, AdviceRequest, User.display_name)
        .outerjoin(AdviceRequest, AdviceRequest.id == Task.request_id)
        .outerjoin(User, User.id == Task.owner_user_id)
        .where(Task.done_at.is_(None))
        .order_by(Task.due_at, Task.id)
    ).all()
    return [TeamTask(task, request, taken_by) for task, request, taken_by in rows]


# --- the board ------------------------------------------------------------------------


def board(session: Session, now: datetime, policy: RoutingPolicy) -> dict[str, Any]:
    """The live board: queue length (and how many of those are unverified callers with no
    answers, or over their number's limit), longest wait, clinicians available, breaches,
    and the share of the last 24 hours' queued requests answered within the target."""
    waiting, oldest, breached, silent, over_limit = session.execute(
        select(
            func.count(AdviceRequest.id),
            func.min(AdviceRequest.waiting_since),
            func.count(AdviceRequest.answer_target_breached_at),
            func.count(sa.case((AdviceRequest.standing == Standing.UNVERIFIED_SILENT, 1))),
            func.count(sa.case((AdviceRequest.standing == Standing.OVER_LIMIT, 1))),
        ).where(AdviceRequest.status.in_(WAITING))
    ).one()
    return {
        "waiting": waiting,
        "unverified_no_answers": silent,
        "over_limit": over_limit,
        "longest_wait_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "available": count_available(session, now=now, policy=policy),
        "breaches_now": breached,
        "answer_target_seconds": int(policy.answer_target.total_seconds()),
        "answered_within_target_percent": _within_target(session, now, policy),
        "as_of": london(now),
    }


def _within_target(session: Session, now: datetime, policy: RoutingPolicy) -> float | None:
    """Of the requests queued in the last 24 hours (by the reports' facts), the share
    answered within the answer target, to one place; None when none were queued."""
    f = RequestFact
    target_tenths = int(policy.answer_target.total_seconds() * 10)
    queued, within = session.execute(
        select(
            func.coalesce(func.sum(f.queued), 0),
            func.count(sa.case((f.answer_tenths <= target_tenths, 1))),
        ).where(f.received_hour >= int(now.timestamp()) // 3600 - 24)
    ).one()
    return round(100 * within / queued, 1) if queued else None
