"""Clinicians use the console in real browsers (headless Chromium) against gunicorn."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from advice_line.clock import LONDON
from advice_line.demo import DEMO_PASSWORD
from tests.conftest import AXE as AXE_SCRIPT
from tests.conftest import NODE_MODULES, migrate_and_seed, start_server, stop_server
from tests.twilio_support import ACCOUNT, LINE_NUMBER, PUBLIC, signature, twilio_env

pytestmark = pytest.mark.browser
WAIT_MS = 15_000


def line_with_nobody_on_duty(tmp_path: Path, **settings: str) -> Iterator[tuple[str, Path]]:
    """Serve the demo line with Twilio faked away and every clinician offline; yield it."""
    database = tmp_path / "line.sqlite3"
    url = f"sqlite:///{database}"
    extra = {
        **twilio_env("http://127.0.0.1:9"),
        "SCHEDULER_IN_PROCESS": "true",
        "SCHEDULER_INTERVAL_MS": "100",
        "HEARTBEAT_SECONDS": "1",
        **settings,
    }
    migrate_and_seed(url, **extra)
    with sqlite3.connect(database) as db:  # nobody on duty until they open a console
        db.execute("UPDATE clinician SET status = 'offline'")
    server, base = start_server(url, **extra)
    try:
        yield base, database
    finally:
        output = stop_server(server)
        assert "Traceback" not in output, output


@pytest.fixture
def console_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The line with a fast scheduler, a short presence grace and long offers."""
    yield from line_with_nobody_on_duty(
        tmp_path, PRESENCE_GRACE_SECONDS="2", OFFER_TIMEOUT_SECONDS="120"
    )


def text_message(base: str, sender: str, body: str) -> None:
    """An officer's SMS arrives through the signed webhook."""
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT,
        "From": sender,
        "To": LINE_NUMBER,
        "Body": body,
    }
    response = requests.post(
        f"{base}/twilio/sms",
        data=params,
        headers={"X-Twilio-Signature": signature(PUBLIC + "/twilio/sms", params)},
        timeout=10,
    )
    assert response.status_code == 200


class Browsers(list[Any]):
    """Browser contexts of a test, and what the pages' security policy refused in them."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    def _note_refusal(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.refused.append(message.text)

    def open(self, chromium: Any, **options: Any) -> Any:
        """A page in a new context, whose refusals by the security policy are noted."""
        self.append(chromium.new_context(**options))
        page = self[-1].new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("console", self._note_refusal)
        return page


def browser_contexts() -> Iterator[Browsers]:
    """Browser contexts of a test, closed before the server stops; nothing was refused."""
    contexts = Browsers()
    yield contexts
    for context in contexts:
        context.close()
    assert contexts.refused == [], "the pages need nothing the security policy refuses"


@pytest.fixture
def browsers(chromium: Any, console_server: tuple[str, Path]) -> Iterator[Browsers]:
    """Browser contexts of the test, closed before the console's server stops."""
    yield from browser_contexts()


def signed_in(chromium: Any, browsers: Browsers, base: str, username: str, **context: Any) -> Any:
    """Sign in in a browser of one's own."""
    page = browsers.open(chromium, **context)
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def open_console(
    chromium: Any, browsers: Browsers, base: str, username: str, **context: Any
) -> Any:
    """Sign in in a browser of one's own and open the console, available."""
    page = signed_in(chromium, browsers, base, username, **context)
    page.get_by_role("heading", name="Console").wait_for()
    page.get_by_text("Connected").wait_for()
    page.get_by_role("button", name="Available", exact=True).click()
    page.locator("#my-status", has_text="available").wait_for()
    return page


def request_status(database: Path, reference: str) -> str:
    with sqlite3.connect(database) as db:
        (status,) = db.execute(
            "SELECT status FROM advice_request WHERE id = ?", (int(reference[3:]),)
        ).fetchone()
    return str(status)


def test_an_offer_is_accepted_and_the_record_closes_the_request_while_others_watch(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, database = console_server
    amira = open_console(chromium, browsers, base, "amira")
    chloe = open_console(chromium, browsers, base, "chloe")
    text_message(base, "+447700900201", "Man on bridge parapet, distressed")

    chloe.locator("#queue tr[data-reference='AL-1']").wait_for()
    amira.locator("#offer-reference", has_text="AL-1").wait_for()
    assert amira.locator("#offer-flags strong").all_inner_texts() == [
        "not answered: risk to life, under 18, dwelling",
    ], "a text has answered none of the key questions yet"
    assert amira.locator("#offer-channel").inner_text() == "SMS"
    assert int(amira.locator("#offer-countdown").inner_text()) > 100
    amira.get_by_role("button", name="Accept", exact=True).click()
    amira.get_by_role("link", name="AL-1 (connected)").wait_for()
    chloe.locator("#queue-length", has_text="0").wait_for()

    amira.get_by_role("link", name="AL-1 (connected)").click()
    amira.get_by_text("Man on bridge parapet, distressed").wait_for()
    amira.get_by_role("button", name="End the conversation").click()
    amira.get_by_label("Section 136 not advised: community route").check()
    amira.get_by_label("Community route", exact=True).select_option("crisis_team")
    amira.get_by_label("Where the person is going now").fill("Home; crisis team visiting")
    amira.get_by_label("Rationale").fill("Calm now, has support at home.")
    for question in amira.locator("fieldset fieldset").all():
        question.get_by_label("No", exact=True).check()
    amira.get_by_role("button", name="Complete and close").click()
    amira.get_by_text("Record completed; the request is closed.").wait_for()
    assert request_status(database, "AL-1") == "closed"


def test_a_texted_request_is_completed_on_the_key_facts_and_its_detention_clock_shown(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, database = console_server
    amira = open_console(chromium, browsers, base, "amira")
    text_message(base, "+447700900202", "Man in his flat, says he will jump from the window")

    flags = amira.locator("#offer-flags")  # the officer never answered the key questions
    flags.get_by_text("not answered: risk to life, under 18, dwelling").wait_for()
    amira.get_by_role("button", name="Accept", exact=True).click()
    amira.get_by_role("link", name="AL-1 (connected)").click()
    assert amira.locator("#key-questions").inner_text().strip() == (
        "Risk to life: not answered; under 18: not answered; in a private dwelling: not answered"
    )
    amira.get_by_role("button", name="End the conversation").click()

    key = {
        "Risk to life now?": "Yes",
        "Is the person under 18?": "No",
        "In a private dwelling": "Yes",
    }
    for question, answer in key.items():
        amira.get_by_role("group", name=question).get_by_label(answer, exact=True).click()
    amira.get_by_label("Section 136 advised").click()
    amira.get_by_label("Recommended place of safety").select_option("health_based")
    amira.get_by_label("Rationale").press_sequentially("Says he will jump; he is at home.")
    safeguarding = amira.get_by_role("group", name="Safeguarding (a yes creates a task")
    for question in safeguarding.get_by_role("group").all():
        question.get_by_label("No", exact=True).click()
    safeguarding.get_by_role("group", name="Are there children in the household?").get_by_label(
        "Yes", exact=True
    ).click()
    amira.get_by_role("button", name="Complete and close").click()

    error = amira.locator("#outcome-error")
    error.get_by_text("s136(1A)", exact=False).wait_for()
    assert "cannot be used in a private dwelling" in error.inner_text()
    dwelling = amira.get_by_role("group", name="In a private dwelling")
    assert dwelling.get_by_label("Yes", exact=True).is_checked(), "the form is kept"
    assert amira.get_by_label("Rationale").input_value() == "Says he will jump; he is at home."
    assert request_status(database, "AL-1") == "wrap_up"

    amira.get_by_label("Section 135 warrant / AMHP assessment route").click()
    amira.get_by_label("Recommended place of safety").select_option("")
    amira.get_by_label("Where the person is going now").press_sequentially(
        "Stays at home; the AMHP is applying for a s135 warrant"
    )
    amira.get_by_role("button", name="Complete and close").click()
    amira.get_by_text("Record completed; the request is closed.").wait_for()
    assert request_status(database, "AL-1") == "closed"

    amira.get_by_role("link", name="Tasks", exact=True).click()  # the children: a team task
    task = amira.locator("section.app-panel", has_text="Are there children in the household?")
    task.get_by_role("link", name="AL-1").click()
    amira.get_by_role("heading", name="The officer's decision and the detention").wait_for()
    arrived = datetime.now(LONDON).replace(second=0, microsecond=0) - timedelta(minutes=20)
    amira.get_by_label("The officer's decision").select_option("detained")
    amira.get_by_label("Arrived at the place of safety").press_sequentially(
        arrived.strftime("%d/%m/%Y %H:%M")
    )
    amira.get_by_role("button", name="Record on the officer's word").click()
    amira.get_by_text("The officer's decision and the detention are recorded.").wait_for()
    ends = (arrived.astimezone(UTC) + timedelta(hours=24)).astimezone(LONDON)
    deadline = amira.locator("#detention-deadline")
    assert deadline.inner_text().strip() == ends.strftime("%d %b %Y %H:%M:%S %Z")
    with sqlite3.connect(database) as db:
        outcome, in_dwelling = db.execute(
            "SELECT outcome, in_dwelling FROM advice_record WHERE request_id = 1"
        ).fetchone()
        (decision,) = db.execute("SELECT decision FROM detention WHERE request_id = 1").fetchone()
    assert (outcome, in_dwelling, decision) == ("s135_amhp_route", 1, "detained")


def test_a_clinician_who_disconnects_holding_an_offer_loses_it_to_the_next(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, database = console_server
    amira = open_console(chromium, browsers, base, "amira")
    chloe = open_console(chromium, browsers, base, "chloe")
    text_message(base, "+447700900202", "Woman at the station, asking for help")
    amira.locator("#offer-reference", has_text="AL-1").wait_for()
    assert chloe.locator("#offer").is_hidden()
    browsers.remove(amira.context)
    amira.context.close()  # the browser is closed with the offer in hand
    chloe.locator("#offer-reference", has_text="AL-1").wait_for()
    assert request_status(database, "AL-1") == "offered"


def test_the_senior_sees_the_floor_and_the_queue_change_live(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, database = console_server
    sam = open_console(chromium, browsers, base, "sam")
    sam.goto(f"{base}/console/floor")
    sam.get_by_text("Live", exact=True).wait_for()
    amira = open_console(chromium, browsers, base, "amira")
    row = sam.locator("#floor-people tr", has_text="Amira Okafor")
    row.get_by_text("available").wait_for()
    amira.get_by_role("button", name="Away", exact=True).click()
    row.get_by_text("away").wait_for()
    sam.evaluate("window.sameFloorPage = true")
    text_message(base, "+447700900203", "Young person on the railway bridge")
    sam.locator("#floor-AL-1").wait_for()
    # The queue was redrawn in place: the page (its ringing offer, its notices) stayed.
    assert sam.evaluate("window.sameFloorPage") is True
    # Its redrawn forms work: the senior takes the request from it.
    sam.locator("#floor-AL-1").get_by_role("button", name="Take AL-1").click()
    sam.get_by_text("Done.").wait_for()
    assert request_status(database, "AL-1") == "accepted"


def test_markup_in_an_officers_message_is_shown_as_text_and_never_runs(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    amira = open_console(chromium, browsers, base, "amira")
    dialogs: list[str] = []

    def record_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    amira.on("dialog", record_dialog)
    body = (
        'Help <img src=x onerror="window.pwned = 1; alert(1)"> '
        "<script>window.pwned = 2; alert(2)</script> on the bridge"
    )
    text_message(base, "+447700900204", body)
    amira.locator("#offer-reference", has_text="AL-1").wait_for()
    amira.get_by_role("button", name="Accept", exact=True).click()
    amira.get_by_role("link", name="AL-1 (connected)").click()
    thread = amira.locator("li.app-thread__inbound")
    thread.wait_for()
    assert body in thread.inner_text(), "the officer's words, markup and all, as text"
    assert amira.locator("main img, main script:not([src])").count() == 0
    assert amira.evaluate("window.pwned") is None
    assert dialogs == []


def test_the_managers_charts_and_live_board_work_under_the_security_policy(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    morgan = signed_in(chromium, browsers, base, "morgan")
    morgan.goto(f"{base}/reports/")
    for chart in ("chart-hour", "chart-day", "chart-week"):
        assert morgan.evaluate(f"Chart.getChart('{chart}') !== undefined"), chart
    morgan.goto(f"{base}/reports/live")
    # A locator waits by polling from Playwright's side; a page function would need eval,
    # which the pages' security policy refuses once the first check has failed.
    morgan.locator("#board-live", has_text=re.compile(r"^Live$")).wait_for()
    text_message(base, "+447700900205", "Man on the bridge")
    morgan.locator("#board-waiting", has_text="1").wait_for()


AXE = NODE_MODULES / AXE_SCRIPT


def serious_violations(page: Any) -> list[tuple[str, str, list[Any]]]:
    """What axe finds of serious or critical impact on the page as it stands."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]])
        for v in results
        if v["impact"] in {"serious", "critical"}
    ]


@pytest.mark.parametrize("path", ["/login", "/console", "/console/tasks", "/console/floor"])
def test_pages_have_no_serious_accessibility_violations(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path], path: str
) -> None:
    base, _ = console_server
    # axe is injected as an inline script, which the pages' policy rightly refuses.
    page = open_console(chromium, browsers, base, "sam", bypass_csp=True)
    if path == "/login":
        page = browsers.open(chromium, bypass_csp=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(base + path)
    assert serious_violations(page) == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, "fits a laptop screen without sideways scrolling"


def test_what_the_clinician_types_in_the_record_is_kept_across_a_reload(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, database = console_server
    amira = open_console(chromium, browsers, base, "amira")
    text_message(base, "+447700900201", "Man on bridge parapet, distressed")
    amira.locator("#offer-reference", has_text="AL-1").wait_for()
    amira.get_by_role("button", name="Accept", exact=True).click()
    amira.get_by_role("link", name="AL-1 (connected)").click()
    amira.get_by_label("Rationale").press_sequentially("Calm now; his sister is with him.")
    amira.get_by_label("Where the person is going now").fill("Sister's flat")
    status = amira.locator("#draft-status")
    status.filter(has_text=re.compile(r"^Draft saved \d{2}:\d{2}$")).wait_for()
    assert amira.url.endswith("/console/requests/1"), "saved without leaving the page"
    amira.reload()
    assert amira.get_by_label("Rationale").input_value() == "Calm now; his sister is with him."
    assert amira.get_by_label("Where the person is going now").input_value() == "Sister's flat"
    assert request_status(database, "AL-1") == "connected", "a draft only"


def test_signing_out_closes_the_console_in_every_browser_holding_the_session(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    amira = open_console(chromium, browsers, base, "amira")
    elsewhere = browsers.open(chromium)
    elsewhere.context.add_cookies(amira.context.cookies())  # a copied cookie
    elsewhere.goto(f"{base}/console")
    elsewhere.get_by_text("Connected").wait_for()
    amira.get_by_role("button", name=re.compile("^Sign out")).click()
    amira.get_by_role("button", name="Sign in").wait_for()
    elsewhere.wait_for_url(re.compile(r"/login"))  # disconnected, reloaded, sent to sign in
    elsewhere.get_by_role("button", name="Sign in").wait_for()


# --- administration, reached from each role's start page ------------------------------


def section_links(page: Any) -> list[tuple[str, str]]:
    """The sections listed on the admin start page: (title, path)."""
    links = page.locator(".app-sections a")
    return [
        (links.nth(i).inner_text(), links.nth(i).get_attribute("href"))
        for i in range(links.count())
    ]


def test_the_admin_lands_on_administration_and_every_section_opens_accessibly(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    # axe is injected as an inline script, which the pages' policy rightly refuses.
    page = signed_in(chromium, browsers, base, "alex", bypass_csp=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.get_by_role("heading", name="Administration").wait_for()
    assert page.url.rstrip("/") == f"{base}/admin"
    sections = section_links(page)
    titles = [title for title, _ in sections]
    for expected in ("Staff accounts", "Clinicians", "Rota", "Coverage", "Officers"):
        assert any(expected in title for title in titles), (expected, titles)
    assert serious_violations(page) == []
    for title, path in sections:
        response = page.goto(base + path)
        assert response is not None, (title, path)
        assert response.status == 200, (title, path)
        assert page.locator("h1").count() == 1, f"{title} has one main heading"
        nav = page.get_by_role("navigation", name="Console")
        assert nav.get_by_role("link", name=title).count() >= 1, f"{title} is in the navigation"
        assert serious_violations(page) == [], title
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, f"{title} fits a laptop screen without sideways scrolling"


def test_a_manager_lands_on_the_dashboard_and_sees_only_what_managers_may_use(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    page = signed_in(chromium, browsers, base, "morgan")
    page.wait_for_url(f"{base}/reports/**")
    nav = page.get_by_role("navigation", name="Console")
    assert nav.get_by_role("link", name="Coverage").count() == 1
    assert nav.get_by_role("link", name="Staff accounts").count() == 0
    response = page.goto(f"{base}/admin/accounts")
    assert response is not None
    assert response.status == 403


def test_a_clinician_has_no_way_into_administration(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    page = signed_in(chromium, browsers, base, "amira")
    page.get_by_role("heading", name="Console").wait_for()
    nav = page.get_by_role("navigation", name="Console")
    assert nav.get_by_role("link", name="Administration").count() == 0
    response = page.goto(f"{base}/admin/")
    assert response is not None
    assert response.status == 403
