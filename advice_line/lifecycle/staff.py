"""Staff accounts: sign-in sessions that end, and deactivation.

Each sign-in is a ``user_session`` row; the signed cookie only names it. A cookie lets
its holder in while the row is open, younger than the absolute limit and not idle, so
signing out (or a deactivation) ends every copy of the cookie at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from advice_line.audit import Actor, record_event
from advice_line.lifecycle.errors import IllegalTransition, NotFound
from advice_line.models import Role, SessionEnd, User, UserSession

#: ``last_seen_at`` is written at most this often, not on every request.
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionRules:
    """How long a session lasts from sign-in, and how long it may sit unused."""

    lifetime: timedelta
    idle: timedelta


def start_session(session: Session, user_id: int, *, now: datetime) -> str:
    """Open a session for ``user_id``; return its id (unguessable, for the signed cookie)."""
    session_id = secrets.token_urlsafe(32)
    session.add(UserSession(id=session_id, user_id=user_id, started_at=now, last_seen_at=now))
    session.flush()
    return session_id


def _ended_by_time(row: UserSession, now: datetime, rules: SessionRules) -> SessionEnd | None:
    if now >= row.started_at + rules.lifetime:
        return SessionEnd.EXPIRED
    if now >= row.last_seen_at + rules.idle:
        return SessionEnd.IDLE
    return None


def _used(row: UserSession, now: datetime, rules: SessionRules) -> bool:
    """Whether an open row is still in force; end it (with the reason) or note the use."""
    reason = _ended_by_time(row, now, rules)
    if reason is not None:
        row.ended_at, row.ended_reason = now, reason
    elif now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    return reason is None


def session_in_force(
    session: Session, session_id: str, user_id: int, *, now: datetime, rules: SessionRules
) -> bool:
    """Whether the session lets its user in now; note it was used (once a minute at most).

    A session past its lifetime or idle limit is ended here, with the reason.
    """
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user_id or row.ended_at is not None:
        return False
    in_force = _used(row, now, rules)
    session.flush()
    return in_force


def sessions_in_force(
    session: Session, session_ids: list[str], *, now: datetime, rules: SessionRules
) -> set[str]:
    """Of sessions with a socket open (which counts as use), those still in force."""
    rows = session.scalars(
        select(UserSession).where(UserSession.id.in_(session_ids), UserSession.ended_at.is_(None))
    ).all()
    in_force = {row.id for row in rows if _used(row, now, rules)}
    session.flush()
    return in_force


def end_session(session: Session, session_id: str, *, now: datetime) -> None:
    """Sign out: end this session (every copy of its cookie); an ended one stays as it was."""
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=SessionEnd.SIGNED_OUT)
    )


def end_open_sessions(session: Session, user_id: int, *, now: datetime, reason: SessionEnd) -> int:
    """End every open session of a staff member (every copy of its cookie); return how many."""
    open_sessions = session.scalars(
        select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    ).all()
    for row in open_sessions:
        row.ended_at, row.ended_reason = now, reason
    return len(open_sessions)


def require_another_admin(session: Session, user: User) -> None:
    """Refuse to take away the last active admin (nobody could run the line's accounts)."""
    admins = session.scalars(
        select(User.id).where(User.role == Role.ADMIN, User.active.is_(True)).with_for_update()
    ).all()
    if user.active and user.role == Role.ADMIN and set(admins) <= {user.id}:
        raise IllegalTransition(
            f"{user.username} is the last active admin: make another account an admin first."
        )


def user_for_update(session: Session, username: str) -> User:
    """The account called ``username`` (as stored), locked; NotFound if there is none."""
    user = session.scalar(select(User).where(User.username == username).with_for_update())
    if user is None:
        raise NotFound(f"No staff account is called {username!r}.")
    return user


def deactivate_user(session: Session, username: str, *, now: datetime, actor: Actor) -> User:
    """Deactivate a staff account: it can no longer sign in, and its sessions end now.

    The last active admin cannot be deactivated.
    """
    user = user_for_update(session, username)
    if not user.active:
        raise IllegalTransition(f"{username} is already deactivated.")
    require_another_admin(session, user)
    user.active = False
    ended = end_open_sessions(session, user.id, now=now, reason=SessionEnd.DEACTIVATED)
    record_event(
        session,
        actor,
        "user.deactivated",
        now=now,
        subject=("user", user.id),
        detail={"sessions_ended": ended},
    )
    session.flush()
    return user
