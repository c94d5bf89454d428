"""The outbox: calls and messages stored with the change that asks for them, placed once.

``enqueue`` writes a row inside the caller's transaction (a rollback leaves none) and
nudges it after the commit (``advice_line.jobs``), so the line rings as soon as it did
when the call lived only in memory. ``send_due`` is the scheduler's duty: it places what
a nudge did not (a retry after a Twilio error, a row whose process died).

Placing a row, in three short transactions around one request to Twilio:

1. Claim it with a conditional UPDATE (pending and due, or 'sending' past its claim), so
   two processes never both hold it; re-check that it is still wanted (a withdrawn offer
   rings nobody) and note when it first went out.
2. If an earlier attempt may have reached Twilio (it went out and no answer was stored),
   ask Twilio for the calls or messages to that number since then; one found is taken as
   this row's, so a crash between Twilio's acceptance and our record sends nothing twice.
   Otherwise ask Twilio to place it.
3. Record the SID and its consequence (the call leg, the message's delivery) together; or
   on an error retry with backoff, or give up (a visible 'failed' state, a log line and
   the purpose's own fallback: pass the offer on, re-queue, text the senior).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.jobs import after_commit
from advice_line.models import OutboxItem, OutboxKind, OutboxPurpose, OutboxState
from advice_line.telephony.gateway import gateway
from advice_line.telephony.protocol import GatewayError

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=1)  # then 2, 4, 8, 16 s: about half a minute in all
LONGEST_RETRY = timedelta(seconds=60)
#: A new row is its nudge's for this long; only then does the scheduler take it (so a
#: scheduler tick does not wait on Twilio for rows already on their way).
NUDGE_GRACE = timedelta(seconds=5)


@dataclass(frozen=True)
class Delivery:
    """What a purpose does: whether a row is still wanted, once placed, once given up."""

    wanted: Callable[[Session, OutboxItem], bool]
    placed: Callable[[Session, OutboxItem, str], object]
    given_up: Callable[[Session, OutboxItem, str], None]


DELIVERIES: dict[OutboxPurpose, Delivery] = {}


def handle(purpose: OutboxPurpose, delivery: Delivery) -> None:
    """Say what follows for rows of ``purpose`` (``effects.wire`` does, once)."""
    DELIVERIES[purpose] = delivery


def enqueue(
    session: Session,
    purpose: OutboxPurpose,
    *,
    request_id: int,
    to: str,
    url: str | Callable[[int], str] | None = None,
    body: str | None = None,
    now: datetime | None = None,
    noted: dict[str, Any] | None = None,
    **about: int | None,
) -> OutboxItem:
    """Store a call (``url``) or a message (``body``) to ``to``, placed once committed.

    ``url`` may be a function of the row's id (a webhook that names its row, so it can
    record the call leg if it comes before the row is placed); ``noted`` is kept in the
    payload for the purpose's record once the row is placed.
    """
    now = now or utcnow()
    item = OutboxItem(
        kind=OutboxKind.CALL if url is not None else OutboxKind.MESSAGE,
        purpose=purpose,
        state=OutboxState.PENDING,
        request_id=request_id,
        payload={
            "to": to,
            **({"url": url} if isinstance(url, str) else {"body": body}),
            **(noted or {}),
        },
        created_at=now,
        due_at=now,
        attempts=0,
        **about,
    )
    session.add(item)
    session.flush()
    if callable(url):
        item.payload = {**item.payload, "url": url(item.id)}
        session.flush()
    after_commit(session, functools.partial(nudge, item.id))
    return item


def nudge(item_id: int) -> None:
    """Place a row just committed (the scheduler retries it if this does not)."""
    send(item_id)


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxItem.state == OutboxState.PENDING, OutboxItem.due_at <= now),
        and_(OutboxItem.state == OutboxState.SENDING, OutboxItem.claimed_until < now),
    )


def backlog(session: Session, now: datetime) -> tuple[int, datetime | None, int]:
    """Rows due and not yet placed, when the oldest of them fell due, and rows given up on."""
    due, oldest = session.execute(
        select(func.count(OutboxItem.id), func.min(OutboxItem.due_at)).where(_claimable(now))
    ).one()
    failed = session.scalar(
        select(func.count(OutboxItem.id)).where(OutboxItem.state == OutboxState.FAILED)
    )
    return due, oldest, failed or 0


def sender_name() -> str:
    """This process, as it signs its claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def send_due(now: datetime | None = None, limit: int = 100) -> int:
    """Place every row that is due or was left 'sending' past its claim; return how many.

    A row not yet tried is left to its nudge for ``NUDGE_GRACE``.
    """
    now = now or utcnow()
    with Session(db.engine) as session:
        due = session.scalars(
            select(OutboxItem.id)
            .where(
                _claimable(now),
                or_(OutboxItem.attempts > 0, OutboxItem.created_at <= now - NUDGE_GRACE),
            )
            .order_by(OutboxItem.due_at, OutboxItem.id)
            .limit(limit)
        ).all()
    return sum(send(item_id, now=now) for item_id in due)


@dataclass(frozen=True)
class _Claimed:
    kind: OutboxKind
    payload: dict[str, Any]
    in_doubt_since: datetime | None


def send(item_id: int, *, now: datetime | None = None) -> bool:
    """Claim, place and record one row; return whether it is now placed."""
    now = now or utcnow()
    name = sender_name()
    claimed = _claim(item_id, now, name)
    if claimed is None:
        return False
    way_out = gateway()
    to = claimed.payload["to"]
    try:
        sid = _already_placed(claimed, item_id) if claimed.in_doubt_since else None
        if sid is None and claimed.kind == OutboxKind.CALL:
            sid = way_out.place_call(to, claimed.payload["url"]).sid
        elif sid is None:
            sid = way_out.send_message(to, claimed.payload["body"])
    except GatewayError as error:
        _failed(item_id, error, name, now)
        return False
    return _placed(item_id, sid, name)


def _claim(item_id: int, now: datetime, name: str) -> _Claimed | None:
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    with Session(db.engine) as session, session.begin():
        won = session.execute(  # type: ignore[attr-defined]
            update(OutboxItem)
            .where(OutboxItem.id == item_id, _claimable(now))
            .values(
                state=OutboxState.SENDING,
                claimed_by=name,
                claimed_until=now + lease,
                attempts=OutboxItem.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            return None
        item = session.get_one(OutboxItem, item_id)
        if not DELIVERIES[item.purpose].wanted(session, item):
            item.state, item.claimed_until = OutboxState.WITHDRAWN, None
            log.info("outbox %s (%s) no longer wanted: not sent", item.id, item.purpose)
            return None
        in_doubt_since = item.first_tried_at
        item.first_tried_at = item.first_tried_at or now
        return _Claimed(item.kind, dict(item.payload), in_doubt_since)


def _already_placed(claimed: _Claimed, item_id: int) -> str | None:
    """Twilio's SID for this row if an earlier attempt reached Twilio after all."""
    assert claimed.in_doubt_since is not None
    to, since = claimed.payload["to"], claimed.in_doubt_since
    if claimed.kind == OutboxKind.CALL:
        found = gateway().calls_placed(to, since)
    else:
        found = gateway().messages_sent(to, claimed.payload["body"], since)
    if not found:
        return None
    with Session(db.engine) as session:
        taken = set(
            session.scalars(
                select(OutboxItem.twilio_sid).where(
                    OutboxItem.twilio_sid.in_(found), OutboxItem.id != item_id
                )
            )
        )
    unclaimed = [sid for sid in found if sid not in taken]
    if unclaimed:
        log.warning("outbox %s had reached Twilio (%s): not sent again", item_id, unclaimed[-1])
        return unclaimed[-1]  # Twilio lists the newest first: the oldest is this row's
    return None


def _placed(item_id: int, sid: str, name: str) -> bool:
    with Session(db.engine) as session, session.begin():
        item = session.get_one(OutboxItem, item_id, with_for_update=True)
        if item.state != OutboxState.SENDING:
            log.warning("outbox %s was settled by another sender; %s not recorded", item_id, sid)
            return False
        if item.claimed_by != name:
            log.warning("outbox %s: our claim lapsed, recording %s anyway", item_id, sid)
        item.state, item.sent_at, item.twilio_sid = OutboxState.SENT, utcnow(), sid
        item.claimed_until = None
        DELIVERIES[item.purpose].placed(session, item, sid)
    return True


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: doubling, at most a minute."""
    delay: timedelta = FIRST_RETRY * 2 ** (attempts - 1)
    return min(delay, LONGEST_RETRY)


def _failed(item_id: int, error: GatewayError, name: str, now: datetime) -> None:
    with Session(db.engine) as session, session.begin():
        item = session.get_one(OutboxItem, item_id, with_for_update=True)
        if item.state != OutboxState.SENDING or item.claimed_by != name:
            return
        item.last_error = f"HTTP {error.status} code {error.code}: {error}"[:500]
        item.claimed_until = None
        if error.retryable and item.attempts < MAX_ATTEMPTS:
            item.state, item.due_at = OutboxState.PENDING, now + retry_delay(item.attempts)
            log.warning("outbox %s failed (attempt %s); retrying", item_id, item.attempts)
            return
        item.state = OutboxState.FAILED
        log.error(
            "outbox %s (%s %s) given up after %s attempts: %s",
            item_id,
            item.purpose,
            item.kind,
            item.attempts,
            item.last_error,
        )
        DELIVERIES[item.purpose].given_up(session, item, str(error)[:300])
