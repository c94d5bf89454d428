"""The admin blueprint: who may use each page, the sections' navigation, the start page.

Every view in the blueprint is for admins only unless it is marked with ``also_for``
(the rota's coverage view, say, is for managers too): the check is made before any view
runs, so a page cannot be added without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from advice_line.models import Role

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", cli_group=None)
View = TypeVar("View", bound=Callable[..., Any])
ADMIN_ONLY = frozenset({Role.ADMIN})
#: Endpoints that other roles may use as well as admins.
_ALSO_FOR: dict[str, frozenset[Role]] = {}


@dataclass(frozen=True)
class Section:
    """One part of administration: its title, its page, and who sees it in the navigation."""

    title: str
    endpoint: str
    summary: str
    order: int
    roles: frozenset[Role] = ADMIN_ONLY


SECTIONS: list[Section] = []


def section(
    title: str, summary: str, *, order: int, roles: frozenset[Role] = ADMIN_ONLY
) -> Callable[[View], View]:
    """Declare a view as a section's page, listed in the admin navigation and start page."""

    def declare(view: View) -> View:
        SECTIONS.append(Section(title, f"admin.{view.__name__}", summary, order, roles))
        SECTIONS.sort(key=lambda s: s.order)
        return view

    return declare


def also_for(*roles: Role) -> Callable[[View], View]:
    """Let these roles use the view too (admins always may)."""

    def declare(view: View) -> View:
        _ALSO_FOR[f"admin.{view.__name__}"] = ADMIN_ONLY | frozenset(roles)
        return view

    return declare


def visible_sections() -> list[Section]:
    """The sections the signed-in user may open."""
    return [s for s in SECTIONS if current_user.role in s.roles]


@bp.before_request
def only_allowed_roles() -> ResponseReturnValue | None:
    """Anonymous users go to sign-in; other roles get 403 unless the view lets them in."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))
    allowed = _ALSO_FOR.get(request.endpoint or "", ADMIN_ONLY)
    if current_user.role not in allowed:
        abort(403)
    return None


@bp.app_context_processor
def admin_navigation() -> dict[str, Any]:
    """Give templates the admin sections the user may open."""
    if not current_user.is_authenticated:
        return {"admin_sections": []}
    return {"admin_sections": visible_sections()}


@bp.get("/")
def index() -> str:
    """The admin start page: each section, and what it is for."""
    return render_template("admin/index.html", sections=visible_sections())


from advice_line.admin import (  # noqa: E402,F401
    accounts,
    clinicians,
    officers,
    rota,
    second_factor,
    settings,
    staff_cli,
)
