"""Every page people use on a phone fits 390 px without sideways scrolling, accessibly.

The integrator re-runs this after merging other work on the console and the reports: the
pages are checked as they stand, not against today's markup.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import test_browser_console as console_tests
from tests.test_browser_console import (
    AXE,
    Browsers,
    browser_contexts,
    open_console,
    signed_in,
    text_message,
)

#: The console's server (fake Twilio, fast scheduler), as the console's browser tests use.
console_server = console_tests.console_server
pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
#: The innermost elements that reach past the right edge, to say what to fix.
TOO_WIDE = """() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > innerWidth + 1))
  .slice(0, 8)
  .map(e => `${e.tagName.toLowerCase()}#${e.id}.${[...e.classList].join(".")}`
    + ` (${Math.round(e.getBoundingClientRect().right)} px)`)
  .join(", ")"""


@pytest.fixture
def browsers(chromium: Any, console_server: tuple[str, Path]) -> Iterator[Browsers]:
    """Browser contexts of the test, closed before the console's server stops."""
    yield from browser_contexts()


def violations(page: Any) -> list[tuple[str, str, str, list[Any]]]:
    """Everything axe finds on the page as it stands, whatever its impact."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]]) for v in found]


def check(page: Any, what: str) -> None:
    """The page is no wider than the phone and axe finds nothing wrong with it."""
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (
        f"{what} is {width} px wide on a {PHONE['width']} px phone; too wide: "
        + page.evaluate(TOO_WIDE)
    )
    assert violations(page) == [], what


def phone(chromium: Any, browsers: Browsers, base: str, username: str | None) -> Any:
    """A phone-sized browser (axe is injected inline, which the pages' policy refuses)."""
    if username is None:
        return browsers.open(chromium, viewport=PHONE, bypass_csp=True)
    return signed_in(chromium, browsers, base, username, viewport=PHONE, bypass_csp=True)


def test_each_role_s_pages_fit_a_phone_and_pass_axe(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    visitor = phone(chromium, browsers, base, None)
    for path in ("/", "/login"):
        visitor.goto(base + path)
        check(visitor, path)
    amira = open_console(chromium, browsers, base, "amira", viewport=PHONE, bypass_csp=True)
    check(amira, "the console")
    text_message(
        base, "+447700900201", "Man on the bridge parapet, distressed, says he has had enough"
    )
    amira.locator("#offer-reference", has_text="AL-1").wait_for()
    check(amira, "the console with an offer")
    amira.get_by_role("button", name="Accept", exact=True).click()
    amira.get_by_role("link", name="AL-1 (connected)").click()
    amira.get_by_role("heading", name="AL-1").wait_for()
    check(amira, "the request page")
    amira.goto(base + "/console/tasks")
    check(amira, "tasks")
    amira.goto(base + "/search?phone=07700+900201")
    amira.locator("#found").wait_for()
    check(amira, "search results")
    amira.goto(base + "/search?reference=AB-1&start-day=31&start-month=2&start-year=2026")
    amira.get_by_text("There is a problem").wait_for()
    check(amira, "a search refused")
    sam = phone(chromium, browsers, base, "sam")
    sam.goto(base + "/console/floor")
    check(sam, "the floor")
    morgan = phone(chromium, browsers, base, "morgan")
    morgan.wait_for_url(f"{base}/reports/**")
    check(morgan, "the dashboard")
    morgan.goto(base + "/reports/live")
    check(morgan, "the live board")
    morgan.goto(base + "/search?reference=AL-1")
    check(morgan, "a manager's search")
    alex = phone(chromium, browsers, base, "alex")
    alex.goto(base + "/admin/rota")
    check(alex, "the rota")


def test_the_header_menu_folds_the_navigation_on_a_phone(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    alex = phone(chromium, browsers, base, "alex")
    alex.get_by_role("heading", name="Administration").wait_for()
    more = alex.get_by_role("button", name="More")
    more.wait_for()  # NHS.UK frontend's script runs: what does not fit is under "More"
    more.click()
    assert alex.locator(".nhsuk-header__menu-list a").count() >= 1
    assert alex.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_simulator_fits_a_phone_and_passes_axe(
    chromium: Any, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    context = chromium.new_context(viewport=PHONE, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{base}/simulator/")
        page.get_by_role("button", name="Dial the line").wait_for()
        check(page, "the simulator")
    finally:
        context.close()
