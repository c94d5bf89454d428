"""The signed-in staff member and the role checks every page, API and socket event makes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort, redirect, request, url_for
from flask_login import UserMixin, current_user

from advice_line.extensions import db
from advice_line.lifecycle.accounts import CONSOLE_ROLES as CONSOLE_ROLES
from advice_line.models import Clinician, Role, User

SENIOR_ROLES = frozenset({Role.SENIOR_CLINICIAN})
MANAGER_ROLES = frozenset({Role.MANAGER})
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Staff(UserMixin):  # type: ignore[misc]
    """What the session knows about the signed-in user."""

    id: int
    username: str
    display_name: str
    role: Role
    clinician_id: int | None
    #: The server-side session this user signed in with (``auth.sessions``).
    session_id: str | None = None

    @classmethod
    def load(cls, user_id: str, session_id: str | None = None) -> Staff | None:
        """Load an active, unlocked staff member by id, in the session ``session_id``."""
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.locked_at is not None:
            return None
        clinician_id = db.session.scalar(
            db.select(Clinician.id).where(Clinician.user_id == user.id)
        )
        return cls(user.id, user.username, user.display_name, user.role, clinician_id, session_id)

    def get_id(self) -> str:
        """Return the session's user id."""
        return str(self.id)


def role_allowed(roles: frozenset[Role]) -> bool:
    """Return whether the current user is signed in with one of ``roles``."""
    return bool(current_user.is_authenticated and current_user.role in roles)


def roles_required(*roles: Role) -> Callable[[View], View]:
    """Let only these roles in: others get 403, anonymous users the sign-in page (401 for APIs)."""
    allowed = frozenset(roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if request.path.startswith("/console/api/") or request.is_json:
                    abort(401)
                return redirect(url_for("auth.login", next=request.path))
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
