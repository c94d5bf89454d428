"""The one transaction edge: every route, socket event, webhook and simulator action that
changes something runs its domain step through ``run``.

``run`` builds what the step needs once (the session, the actor, the time, the routing
policy), runs the step, and commits when it returns. On a ``DomainError`` it rolls back
and answers the caller's way (``refused``: a flash and the form again, an ack with the
error, TwiML); on any other error it rolls back and re-raises, so the caller's own guard
(fallback TwiML, the socket error handler, a 500) answers. Work queued for after the
commit (``advice_line.jobs``) and notices for the user (``Work.tell``) happen only if the commit
did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn, TypeVar

from flask import current_app, flash, request
from flask_login import current_user
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_view
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle.errors import DomainError
from advice_line.lifecycle.policy import RoutingPolicy

R = TypeVar("R")


@dataclass(frozen=True)
class Work:
    """What a domain step needs: the session, who acts, when, and the routing policy."""

    session: Session
    actor: Actor
    now: datetime
    policy: RoutingPolicy
    notices: list[str] = field(default_factory=list)

    def tell(self, notice: str) -> None:
        """Show ``notice`` to the signed-in user once the change is committed."""
        self.notices.append(notice)


def current_policy() -> RoutingPolicy:
    """Return the routing policy of the app handling this request."""
    return RoutingPolicy.from_config(current_app.config)


def reraise(error: DomainError) -> NoReturn:
    """Let a refusal reach the caller unanswered (after the rollback)."""
    raise error


def run(
    step: Callable[[Work], R],
    actor: Actor,
    refused: Callable[[DomainError], R] = reraise,
    *,
    now: datetime | None = None,
) -> R:
    """Run ``step`` in one transaction: commit on return; roll back on any error.

    A ``DomainError`` is answered by ``refused``; anything else is re-raised. ``now`` is
    the time the step happened, if not now (a webhook replayed from the spool).
    """
    work = Work(db.session(), actor, now or utcnow(), current_policy())
    try:
        result = step(work)
        db.session.commit()
        for notice in work.notices:
            flash(notice)
    except DomainError as error:
        db.session.rollback()
        return refused(error)
    except BaseException:
        db.session.rollback()
        raise
    return result


def signed_in_actor() -> Actor:
    """The signed-in staff member, with the address they came from."""
    return Actor("user", current_user.id, request.remote_addr)


def viewed(
    what: str,
    actor: Actor,
    *,
    request_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record in its own transaction that ``actor`` saw ``what`` (``audit.record_view``)."""
    run(
        lambda work: record_view(
            work.session, work.actor, what, now=work.now, request_id=request_id, detail=detail
        ),
        actor,
    )
