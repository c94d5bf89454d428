"""Which requests a search finds, and a request's earlier ones (no Flask).

Every list is cut by ``lifecycle.access.openable`` for clinicians (the rule the request
page applies), so nobody is shown a request they could not open
(docs/DOMAIN.md#finding-earlier-requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from advice_line.clock import LONDON
from advice_line.lifecycle.access import openable
from advice_line.lifecycle.persons import same_person
from advice_line.models import AdviceRequest, Officer, OfficerPhone, Role, SamePersonLink
from advice_line.reports.drill import RequestPage, page_of

#: How many of the officer's earlier requests the request page lists.
EARLIER_SHOWN = 10


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a manager sees every request, a console user what they may open."""

    user_id: int
    role: Role
    clinician_id: int | None

    def rule(self) -> Any:
        """The condition on ``AdviceRequest`` for the requests this viewer may see."""
        if self.role == Role.MANAGER:
            return true()
        return openable(user_id=self.user_id, role=self.role, clinician_id=self.clinician_id)


@dataclass(frozen=True)
class Criteria:
    """What was searched for (None: any); at least one is given."""

    request_id: int | None = None
    collar_number: str | None = None
    officer: str | None = None
    phone: str | None = None  # E.164
    start: date | None = None
    end: date | None = None


def _contains(text: str) -> str:
    """A LIKE pattern for ``text`` anywhere, its own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def conditions(criteria: Criteria) -> list[Any]:
    """The conditions on ``AdviceRequest`` (joined to its ``Officer``) for ``criteria``."""
    found: list[Any] = []
    if criteria.request_id is not None:
        found.append(AdviceRequest.id == criteria.request_id)
    if criteria.collar_number:
        collar = criteria.collar_number.upper()
        found.append(
            or_(
                func.upper(Officer.collar_number) == collar,
                func.upper(AdviceRequest.claimed_collar_number) == collar,
            )
        )
    if criteria.officer:
        found.append(func.lower(Officer.name).like(_contains(criteria.officer), escape="\\"))
    if criteria.phone:
        phones = select(OfficerPhone.officer_id).where(OfficerPhone.number == criteria.phone)
        found.append(
            or_(AdviceRequest.caller_number == criteria.phone, AdviceRequest.officer_id.in_(phones))
        )
    if criteria.start:
        found.append(AdviceRequest.received_at >= datetime.combine(criteria.start, time(0), LONDON))
    if criteria.end:
        after = datetime.combine(criteria.end + timedelta(days=1), time(0), LONDON)
        found.append(AdviceRequest.received_at < after)
    return found


def search(session: Session, criteria: Criteria, viewer: Viewer, *, page: int) -> RequestPage[Any]:
    """The requests ``criteria`` find that ``viewer`` may see, newest first, a page."""
    query = (
        select(AdviceRequest, Officer)
        .outerjoin(Officer, Officer.id == AdviceRequest.officer_id)
        .where(*conditions(criteria), viewer.rule())
    )
    order = (AdviceRequest.received_at.desc(), AdviceRequest.id.desc())
    return page_of(session, query, order, page=page)


def earlier_from_officer(
    session: Session, advice: AdviceRequest, viewer: Viewer
) -> list[AdviceRequest]:
    """The officer's requests before this one, newest first: by their directory entry, or
    by the number they called from when the line does not know them."""
    if advice.officer_id is not None:
        same = AdviceRequest.officer_id == advice.officer_id
    elif advice.caller_number:
        same = AdviceRequest.caller_number == advice.caller_number
    else:
        return []
    query = (
        select(AdviceRequest)
        .where(same, AdviceRequest.id < advice.id, viewer.rule())
        .order_by(AdviceRequest.received_at.desc(), AdviceRequest.id.desc())
        .limit(EARLIER_SHOWN)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class Earlier:
    """What the request page shows of other requests: the officer's and the person's."""

    officer: list[AdviceRequest]
    person: list[AdviceRequest]
    #: The person's requests linked to this one directly (a link that can be removed).
    direct: frozenset[int]

    def audited(self) -> dict[str, list[str]]:
        """The requests shown, by reference, as the view's audit event keeps them."""
        return {
            "officer_requests": [r.reference for r in self.officer],
            "person_requests": [r.reference for r in self.person],
        }


def earlier_requests(session: Session, advice: AdviceRequest, viewer: Viewer) -> Earlier:
    """The officer's earlier requests and the person's linked ones that ``viewer`` may see."""
    linked = same_person(session, advice.id)
    person = session.scalars(
        select(AdviceRequest)
        .where(AdviceRequest.id.in_(linked), viewer.rule())
        .order_by(AdviceRequest.received_at.desc(), AdviceRequest.id.desc())
    )
    link = SamePersonLink
    pairs = session.execute(
        select(link.earlier_request_id, link.later_request_id).where(
            or_(link.earlier_request_id == advice.id, link.later_request_id == advice.id)
        )
    )
    direct = frozenset(i for pair in pairs for i in pair) - {advice.id}
    return Earlier(
        officer=earlier_from_officer(session, advice, viewer),
        person=list(person) if linked else [],
        direct=direct,
    )
