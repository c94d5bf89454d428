"""Where each role starts and what its header navigation lists: decided here only.

A clinician starts on the console (offers reach them there); so does a senior clinician,
who takes requests too and has the floor one link away; a manager starts on the reports
dashboard; an admin on administration. The navigation lists exactly the pages the role's
checks let in (``roles_required`` on each view, ``admin.routes`` for its sections).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, request, url_for
from flask_login import current_user

from advice_line.models import Role


@dataclass(frozen=True)
class Link:
    """One page in the header navigation."""

    title: str
    endpoint: str


#: The start page of each role (the first link of its navigation).
START = {
    Role.CLINICIAN: "console.console",
    Role.SENIOR_CLINICIAN: "console.console",
    Role.MANAGER: "reports.index",
    Role.ADMIN: "admin.index",
}
_LINKS = {
    Role.CLINICIAN: (
        Link("Console", "console.console"),
        Link("Tasks", "console.tasks"),
        Link("Search", "search.search_page"),
    ),
    Role.SENIOR_CLINICIAN: (
        Link("Console", "console.console"),
        Link("Tasks", "console.tasks"),
        Link("Floor", "console.floor"),
        Link("Search", "search.search_page"),
    ),
    Role.MANAGER: (
        Link("Dashboard", "reports.index"),
        Link("Live board", "reports.live_board"),
        Link("Follow-up", "reports.follow_up_page"),
        Link("Search", "search.search_page"),
    ),
    Role.ADMIN: (Link("Administration", "admin.index"),),
}


def start_page(role: Role) -> str:
    """The URL a user of ``role`` lands on after signing in, and on ``/``."""
    return url_for(START[role])


def links(role: Role) -> list[Link]:
    """The pages a user of ``role`` may use, in the navigation's order."""
    from advice_line.admin.routes import SECTIONS

    sections = [Link(s.title, s.endpoint) for s in SECTIONS if role in s.roles]
    return [*_LINKS[role], *sections]


def header_navigation() -> dict[str, Any]:
    """Give templates ``navigation``: the signed-in user's links, the current page marked."""
    if not current_user.is_authenticated:
        return {"navigation": []}
    items = [
        {
            "text": link.title,
            "href": url_for(link.endpoint),
            "current": request.endpoint == link.endpoint,
        }
        for link in links(current_user.role)
    ]
    return {"navigation": items}


def init_app(app: Flask) -> None:
    """Put the navigation in every template's context."""
    app.context_processor(header_navigation)
