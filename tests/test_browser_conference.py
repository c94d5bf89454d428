"""A three-way call in real browsers: the simulator's phones and the clinician's request page."""

from __future__ import annotations

from typing import Any

import pytest

from advice_line.demo import DEMO_PASSWORD
from tests.test_browser_console import serious_violations

pytestmark = pytest.mark.browser
WAIT_MS = 15_000


def officer_talking_to_amira(chromium: Any, base: str) -> tuple[Any, Any]:
    """The simulator page, where an officer's call was answered by Amira on her phone."""
    phones = chromium.new_page()
    phones.set_default_timeout(WAIT_MS)
    phones.goto(f"{base}/simulator/")
    phones.get_by_role("button", name="Dial the line").click()
    officer = phones.locator("article", has_text="Officer +447700900201 calling the line")
    officer.get_by_text("Is there an immediate risk to life?").wait_for()
    for keys, next_prompt in (
        ("1", "Is the person under 18?"),
        ("2", "private home"),
        ("2", "Connecting you to a clinician"),
    ):
        officer.get_by_role("textbox").fill(keys)
        officer.get_by_role("button", name="Press keys").click()
        officer.get_by_text(next_prompt).wait_for()
    officer.get_by_text("in conference AL-1").wait_for()
    amira_phone = answered(phones, "+447700900101")
    amira_phone.get_by_text("Press 1 to accept").wait_for()
    amira_phone.get_by_role("textbox").fill("1")
    amira_phone.get_by_role("button", name="Press keys").click()
    officer.get_by_text("(talking)").first.wait_for()
    return phones, officer


def answered(phones: Any, number: str) -> Any:
    """Answer the simulated phone the line is calling."""
    phone = phones.locator("article", has_text=f"The line calling {number}")
    phone.get_by_role("button", name="Answer", exact=True).click()
    return phone


def signed_in(chromium: Any, base: str, username: str) -> Any:
    """A console page in a browser of the user's own (axe may be injected: no CSP)."""
    page = chromium.new_context(bypass_csp=True).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Console").wait_for()
    return page


def test_a_clinician_brings_in_an_amhp_privately_then_together_then_drops_them(
    chromium: Any, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    phones, officer = officer_talking_to_amira(chromium, base)
    amira = signed_in(chromium, base, "amira")
    amira.goto(f"{base}/console/requests/1")
    assert serious_violations(amira) == []
    amira.get_by_label("Bring in").select_option(label="AMHP duty line")
    amira.get_by_label("Privately first (the officer hears hold music)").check()
    amira.get_by_role("button", name="Bring them in").click()
    amira.get_by_text("Calling them now.").wait_for()

    amhp = answered(phones, "+441632960101")
    amhp.get_by_text("You are speaking with the clinician only").wait_for()
    officer.get_by_text("Status: in-progress, in conference AL-1 (on hold: music)").wait_for()

    amira.reload()
    amira.get_by_text("speaking with you only; the officer is on hold").wait_for()
    assert serious_violations(amira) == []
    amira.get_by_role("button", name="Speak together with the officer").click()
    amira.get_by_text("The officer is back on the call with you both.").wait_for()
    officer.get_by_text("(back in the call)", exact=True).wait_for()
    talking = "Status: in-progress, in conference AL-1 (talking)"
    officer.get_by_text(talking, exact=True).wait_for()

    amira.get_by_role("button", name="Drop AMHP duty line from the call").click()
    amira.get_by_text("AMHP duty line is off the call.").wait_for()
    amhp.get_by_text("Status: completed").wait_for()
    officer.get_by_text(talking, exact=True).wait_for()
    amira.context.close()
    phones.close()


def test_a_senior_listens_to_a_call_and_coaches_the_clinician_who_sees_it(
    chromium: Any, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    phones, officer = officer_talking_to_amira(chromium, base)
    amira = signed_in(chromium, base, "amira")
    amira.goto(f"{base}/console/requests/1")
    notice = amira.locator("#supervision")
    assert notice.is_hidden()

    sam = signed_in(chromium, base, "sam")
    sam.goto(f"{base}/console/floor")
    sam.get_by_role("button", name="Listen on AL-1").click()
    sam.get_by_text("Your phone will ring").wait_for()
    sam_phone = answered(phones, "+447700900106")
    sam_phone.get_by_text("(listening, muted)").wait_for()
    notice.get_by_text("Sam Adeyemi (senior nurse, shift lead), is listening").wait_for()

    sam.reload()
    assert serious_violations(sam) == []
    sam.get_by_role("button", name="Coach on AL-1").click()
    sam.get_by_text("You are coaching: only the clinician hears you.").wait_for()
    sam_phone.get_by_text("(coaching +447700900101: only they hear)").wait_for()
    notice.get_by_text("is coaching you: only you can hear them").wait_for()
    officer.get_by_text("(talking)").first.wait_for()
    # The officer hangs up: the senior's floor, left open, says so without a reload.
    sam.evaluate("window.sameFloorPage = true")
    officer.get_by_role("button", name="Hang up").first.click()
    sam.locator("#floor-calls").get_by_text("No one is on a call.").wait_for()
    assert sam.evaluate("window.sameFloorPage") is True
    for page in (amira, sam):
        page.context.close()
    phones.close()
