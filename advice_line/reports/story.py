"""One request's timeline told as a story: what happened, who did it (by name), and how
long each step took (no Flask)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line.audit import TWILIO_SID_IN_TEXT
from advice_line.models import AdviceRequest, AuditEvent, CallLeg, Clinician, Message, User
from advice_line.models.telephony import LegRole, MessageDirection
from advice_line.reports.labels import label

#: What each audit action says happened ({clinician}, {user}, {value} filled in).
SENTENCES = {
    "request.created": "Request arrived",
    "request.queued": "Queued for a clinician",
    "request.requeued": "Back in the queue",
    "request.offered": "Offered to {clinician}",
    "request.accepted": "Taken by {clinician}",
    "request.answered": "Answered by {clinician}",
    "request.connected": "Clinician and officer connected",
    "request.call_ended": "Call ended",
    "request.closed": "Closed",
    "request.abandoned": "Abandoned: the officer left before an answer",
    "request.cancelled": "Cancelled",
    "request.nuisance": "Closed as a nuisance call by {user}",
    "request.call_back": "Called the officer back",
    "request.call_back_requested": "Call-back asked for",
    "request.joined": "The officer got in touch again",
    "request.widened": "Offered more widely",
    "request.intake": "The officer answered the phone menu",
    "request.key_questions": "The officer answered the key questions",
    "request.answer_target_breached": "Still waiting at the answer target",
    "request.skills_overridden": "Skills overridden for {clinician}",
    "request.viewed": "Timeline viewed",
    "request.third_party_called": "Someone rung into the call",
    "request.third_party_together": "The officer and the third party speak together",
    "request.third_party_dropped": "The third party dropped from the call",
    "request.third_party_left": "The third party left the call",
    "request.third_party_not_reached": "The third party could not be rung",
    "request.handed_over": "Call handed over to {clinician}",
    "request.supervisor_called": "{clinician} asked to listen to the call",
    "request.supervisor_listening": "A senior clinician listening",
    "request.supervisor_coach": "{clinician} coaching the clinician",
    "request.supervisor_join": "{clinician} joined the call",
    "request.supervisor_stopped": "A senior clinician stopped listening",
    "request.supervisor_left": "A senior clinician left the call",
    "offer.declined": "Offer declined by {clinician}",
    "offer.timed_out": "Offer to {clinician} not answered in time",
    "offer.rescinded": "Offer to {clinician} withdrawn",
    "offer.failed": "Offer to {clinician} could not be made",
    "offer.accepted": "Offer accepted by {clinician}",
    "offer.handed_over": "{clinician} handed the call over",
    "record.draft_saved": "Record draft saved",
    "detention.decision": "The officer reported: {value}",
    "detention.updated": "Detention times updated",
    "detention.extended": "Detention extended",
    "task.created": "Task made",
    "task.taken": "Task taken on by {user}",
    "task.done": "Task done",
}
#: Who acted, for actors that are not staff.
ACTORS = {
    "twilio": "the phone system",
    "telephony": "the phone system",
    "simulator": "the phone simulator",
    "system": "the advice line",
    "scheduler": "the advice line",
    "anonymous": "someone not signed in",
    "officer": "the officer",
}
#: Detail kept out of the story (ids shown as names instead, or nothing a reader needs).
HIDDEN = {
    "offer_id",
    "clinician_id",
    "by_user_id",
    "from_user_id",
    "from_clinician_id",
    "from",
    "to",
    "decision",
}


@dataclass(frozen=True)
class Entry:
    """One line of the story."""

    when: datetime
    what: str
    who: str
    detail: str
    after: str  # time since the line before, in words ('' for the first)


def duration(gap: timedelta) -> str:
    """A time as people say it: '38 s', '4 min 5 s', '2 h 10 min'."""
    seconds = max(0, round(gap.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


class Names:
    """Staff by user id and clinician id, as 'Amira Khan (clinician)'."""

    def __init__(self, session: Session, user_ids: Iterable[int], clinician_ids: Iterable[int]):
        users = set(user_ids)
        clinicians = dict(
            session.execute(
                select(Clinician.id, Clinician.user_id).where(Clinician.id.in_(set(clinician_ids)))
            ).all()
        )
        found = session.execute(
            select(User.id, User.display_name, User.role).where(
                User.id.in_(users | set(clinicians.values()))
            )
        )
        self.users = {i: f"{name} ({label(role).lower()})" for i, name, role in found}
        self.clinicians = {c: self.users.get(u, "a clinician") for c, u in clinicians.items()}

    def user(self, user_id: object) -> str:
        """A staff member's name and role."""
        return self.users.get(user_id, "a member of staff") if isinstance(user_id, int) else ""

    def clinician(self, clinician_id: object) -> str:
        """A clinician's name and role."""
        return (
            self.clinicians.get(clinician_id, "a clinician")
            if isinstance(clinician_id, int)
            else ""
        )


def _who(event: AuditEvent, names: Names) -> str:
    if event.actor_kind == "user":
        return names.user(event.actor_user_id)
    return ACTORS.get(event.actor_kind, label(event.actor_kind).lower())


def _detail(detail: dict[str, Any]) -> str:
    shown = []
    for key, value in sorted(detail.items()):
        if key in HIDDEN or value in (None, "", [], {}):
            continue
        text = TWILIO_SID_IN_TEXT.sub("", label(value) if isinstance(value, str) else str(value))
        shown.append(f"{label(key)}: {text.strip()}")
    return "; ".join(shown)


def _event(event: AuditEvent, names: Names) -> tuple[datetime, str, str, str]:
    detail = event.detail or {}
    sentence = SENTENCES.get(event.action, label(event.action.replace(".", "_")))
    what = sentence.format(
        clinician=names.clinician(detail.get("clinician_id")) or "a clinician",
        user=names.user(detail.get("by_user_id") or event.actor_user_id) or "staff",
        value=label(detail.get("decision")),
    )
    return event.occurred_at, what, _who(event, names), _detail(detail)


def timeline(session: Session, advice: AdviceRequest) -> list[Entry]:
    """Everything that happened to one request, in order, with the time between steps."""
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.request_id == advice.id)))
    legs = list(session.scalars(select(CallLeg).where(CallLeg.request_id == advice.id)))
    messages = list(session.scalars(select(Message).where(Message.request_id == advice.id)))
    names = Names(
        session,
        [e.actor_user_id for e in events if e.actor_user_id]
        + [v for e in events for k, v in (e.detail or {}).items() if k.endswith("user_id")],
        [e.detail["clinician_id"] for e in events if (e.detail or {}).get("clinician_id")]
        + [leg.clinician_id for leg in legs if leg.clinician_id]
        + [message.clinician_id for message in messages if message.clinician_id],
    )
    lines = [_event(event, names) for event in events]
    for leg in legs:
        party = (
            "the officer"
            if leg.role == LegRole.OFFICER
            else names.clinician(leg.clinician_id) or leg.label or "someone"
        )
        lines.append((leg.created_at, f"Phone call to or from {party}", "the phone system", ""))
        if leg.joined_at:
            lines.append((leg.joined_at, f"{party.capitalize()} joined the call", "", ""))
        if leg.ended_at:
            lines.append(
                (leg.ended_at, f"{party.capitalize()} left the call", "", label(leg.status))
            )
    for message in messages:
        incoming = message.direction == MessageDirection.INBOUND
        sender = "the officer" if incoming else names.clinician(message.clinician_id) or "the line"
        lines.append((message.created_at, f"Message from {sender}", sender, message.body))
    story: list[Entry] = []
    for when, what, who, detail in sorted(lines, key=lambda line: line[0]):
        after = duration(when - story[-1].when) + " later" if story else ""
        story.append(Entry(when, what, who, detail, after))
    return story


def summary(advice: AdviceRequest) -> list[str]:
    """The request's waits in a sentence each: queued to taken, to abandonment."""
    said = []
    if advice.waiting_since and advice.accepted_at:
        said.append(f"Waited {duration(advice.accepted_at - advice.waiting_since)} to be answered.")
    if advice.waiting_since and advice.abandoned_at:
        said.append(f"Waited {duration(advice.abandoned_at - advice.waiting_since)}, then left.")
    return said
