"""The NHS.UK frame of every page: start pages and navigation by role, the landing page,
error summaries in people's words, date inputs, and nothing loaded from elsewhere."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from wtforms.validators import InputRequired

from advice_line.demo import DEMO_PASSWORD
from advice_line.inputs import CleanForm, DateInputField
from advice_line.security import CONTENT_SECURITY_POLICY
from tests.conftest import static_url
from tests.test_console import _wrapped_up, csrf, demo, post_record, sign_in

__all__ = ["demo"]

#: Each demo role: where it lands, what its navigation lists, and pages it must not list.
ROLES = {
    "amira": (
        "/console",
        ["Console", "Tasks", "Search"],
        ["Floor", "Dashboard", "Administration"],
    ),
    "sam": ("/console", ["Console", "Tasks", "Floor", "Search"], ["Dashboard", "Administration"]),
    "morgan": (
        "/reports/",
        ["Dashboard", "Live board", "Follow-up", "Search", "Coverage"],
        ["Console", "Tasks", "Floor", "Administration", "Staff accounts", "Rota"],
    ),
    "alex": (
        "/admin/",
        ["Administration", "Staff accounts", "Clinicians", "Rota", "Coverage", "Officers"],
        ["Console", "Tasks", "Floor", "Dashboard", "Live board", "Search"],
    ),
}


def navigation(page: str) -> list[str]:
    """The link texts of the header's navigation."""
    found = re.search(r'<nav class="nhsuk-header__navigation".*?</nav>', page, re.S)
    assert found is not None, "the header has a navigation"
    return [
        unescape(t).strip() for t in re.findall(r"<a\s[^>]*>\s*(?:<strong[^>]*>)?([^<]+)", found[0])
    ]


def text_of(html: str) -> str:
    """What a person reads: the page without tags and attributes."""
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("username", sorted(ROLES))
def test_each_role_lands_on_its_start_page_and_sees_only_what_it_may_use(
    app: Flask, demo: Session, username: str
) -> None:
    start, listed, unlisted = ROLES[username]
    client = sign_in(app, username)
    assert client.get("/").headers["Location"] == start, "/ leads to the start page"
    page = client.get(start).get_data(as_text=True)
    links = navigation(page)
    for title in listed:
        assert title in links, (title, links)
    for title in unlisted:
        assert title not in links, (title, links)
    for link in re.findall(r'class="nhsuk-header__navigation-link" href="([^"]+)"', page):
        assert client.get(link).status_code == 200, f"{username} may open {link}"
    account = re.search(r'<nav class="nhsuk-header__account".*?</nav>', page, re.S)
    assert account is not None
    assert "Sign out" in account[0]
    assert 'name="csrf_token"' in account[0], "signing out is a POST with the CSRF token"


def test_signing_in_leads_to_the_role_s_start_page(app: Flask, demo: Session) -> None:
    client = app.test_client()
    token = csrf(client)
    answer = client.post(
        "/login", data={"username": "morgan", "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert answer.headers["Location"] == "/reports/"


def test_the_landing_page_offers_sign_in_and_shows_nothing_live(app: Flask, demo: Session) -> None:
    page = app.test_client().get("/").get_data(as_text=True)
    assert 'class="nhsuk-header' in page
    assert 'class="nhsuk-footer' in page
    assert 'href="/login"' in page
    assert "Sign in" in text_of(page)
    for live in ("waiting", "available", "in progress", "longest wait", "AL-"):
        assert live not in text_of(page).lower(), live
    assert 'class="nhsuk-header__navigation"' not in page, "no navigation for visitors"


def error_summary(page: str) -> str:
    found = re.search(r'<div\s+class="nhsuk-error-summary".*?</ul>', page, re.S)
    assert found is not None, "the page opens with an error summary"
    return found[0]


def test_a_refused_record_lists_its_problems_under_the_questions_asked(
    app: Flask, demo: Session
) -> None:
    client, request = _wrapped_up(app, demo)
    answer = post_record(client, request, outcome="", under_18_in_crisis="", rationale="x" * 5000)
    assert answer.status_code == 400
    summary = error_summary(answer.get_data(as_text=True))
    words = text_of(summary)
    assert "There is a problem" in words
    assert "Is the person in crisis under 18?" in words
    assert 'href="#under_18_in_crisis-0"' in summary, "each problem links to its field"
    assert 'href="#outcome-0"' in summary
    assert not re.search(r"\b[a-z]+_[a-z0-9_]+\b", words), f"no field names: {words}"


def test_a_draft_saved_as_she_types_is_refused_in_words(app: Flask, demo: Session) -> None:
    client, request = _wrapped_up(app, demo)
    answer = post_record(client, request, intent="autosave", destination="x" * 5000)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error.startswith("Draft not saved: Where the person is going now: ")
    assert not re.search(r"\b[a-z]+_[a-z0-9_]+\b", error), error


def test_a_refused_admin_form_lists_its_problems_with_links(app: Flask, demo: Session) -> None:
    client = sign_in(app, "alex")
    token = csrf(client, "/admin/rota")
    answer = client.post(
        "/admin/rota/shifts",
        data={
            "csrf_token": token,
            "clinician": "",
            "date-day": "31",
            "date-month": "2",
            "date-year": "2026",
            "start": "08:00",
            "end": "",
        },
    )
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    summary = error_summary(page)
    words = text_of(summary)
    assert "Date must be a real date: there is no 31/2/2026." in words
    assert 'href="#shift-date-day"' in summary
    assert 'href="#shift-end"' in summary
    assert re.search(r'id="shift-date-day"[^>]*value="31"', page), "what was typed stays"


class Period(CleanForm):
    class Meta:
        csrf = False

    start = DateInputField("From", validators=[InputRequired()])
    until = DateInputField("Until (optional)")


@pytest.mark.parametrize(
    ("sent", "data", "error"),
    [
        ({"start-day": "27", "start-month": "3", "start-year": "2026"}, "2026-03-27", None),
        ({"start": "2026-03-27"}, "2026-03-27", None),
        ({"start-day": "29", "start-month": "2", "start-year": "2028"}, "2028-02-29", None),
        (
            {"start-day": "31", "start-month": "02", "start-year": "2026"},
            None,
            "From must be a real date: there is no 31/02/2026.",
        ),
        ({"start": "2026-02-31"}, None, "From must be a real date: there is no 31/02/2026."),
        ({"start-day": "1", "start-year": "2026"}, None, "From must include a month."),
        ({"start-month": "3"}, None, "From must include a day and a year."),
        (
            {"start-day": "1", "start-month": "March", "start-year": "2026"},
            None,
            "From must be a real date, in numbers, like 27 3 2026.",
        ),
        (
            {"start-day": "1", "start-month": "3", "start-year": "26"},
            None,
            "From's year must have 4 numbers, like 2026.",
        ),
        ({"start": "yesterday"}, None, "From must include a day and a month."),
        ({}, None, "From must include a day, a month and a year."),
    ],
)
def test_a_date_is_typed_as_day_month_and_year_and_impossible_ones_are_refused(
    app: Flask, sent: dict[str, str], data: str | None, error: str | None
) -> None:
    with app.test_request_context():
        form = Period(formdata=MultiDict(sent))
        valid = form.validate()
    assert (str(form.start.data) if form.start.data else None) == data
    assert form.start.errors == ([error] if error else [])
    assert valid is (error is None)
    assert form.until.data is None, "an empty date is no date"
    assert form.until.errors == []


def test_the_reports_filter_takes_dates_in_boxes_and_refuses_31_february(
    app: Flask, demo: Session
) -> None:
    client = sign_in(app, "morgan")
    page = client.get("/reports/").get_data(as_text=True)
    assert 'type="date"' not in page
    assert 'name="start-day"' in page
    assert 'name="end-year"' in page
    bad = client.get("/reports/?start-day=31&start-month=2&start-year=2026&end=2026-03-31")
    assert bad.status_code == 400
    assert "From must be a real date: there is no 31/2/2026." in text_of(
        error_summary(bad.get_data(as_text=True))
    )
    good = client.get("/reports/?start-day=1&start-month=3&start-year=2026&end=2026-03-31")
    assert good.status_code == 200


def test_no_page_uses_the_browser_s_date_picker(app: Flask, demo: Session) -> None:
    client = sign_in(app, "alex")
    for path in ("/admin/rota", "/admin/"):
        assert 'type="date"' not in client.get(path).get_data(as_text=True), path


def fetched(client: FlaskClient, url: str) -> tuple[int, str]:
    """A static file's status and text (the file closed after)."""
    with client.get(url) as response:
        return response.status_code, response.get_data().decode(errors="replace")


def test_fonts_and_icons_come_from_this_site_and_the_policy_allows_no_other(
    app: Flask, demo: Session
) -> None:
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    css_url = static_url(app, "vendor/nhsuk/nhsuk-frontend.min.css")
    css = fetched(client, css_url)[1]
    assert "assets.nhs.uk" not in css
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css), "the stylesheet loads nothing else"
    assert "Frutiger W01,arial,sans-serif" in css, "Arial stands in for Frutiger"
    for icon in ("favicon.ico", "favicon.svg"):
        url = static_url(app, f"vendor/nhsuk/assets/images/{icon}")
        assert f'href="{url}"' in page
        assert fetched(client, url)[0] == 200
    script = static_url(app, "vendor/nhsuk/nhsuk-frontend.min.js")
    assert f'data-nhsuk-frontend="{script}"' in page
    assert "initAll" in fetched(client, script)[1]
    policy = client.get("/").headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert not re.search(r"https?:|//|\*", policy), policy
