"""A three-way call in real browsers: the simulator's phones and the clinician's request page."""

from __future__ import annotations

from typing import Any

import pytest

from advice_line.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser
WAIT_MS = 15_000


def test_a_clinician_brings_in_an_amhp_privately_then_together_then_drops_them(
    chromium: Any, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
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
    amira_phone = phones.locator("article", has_text="The line calling +447700900101")
    amira_phone.get_by_role("button", name="Answer", exact=True).click()
    amira_phone.get_by_text("Press 1 to accept").wait_for()
    amira_phone.get_by_role("textbox").fill("1")
    amira_phone.get_by_role("button", name="Press keys").click()
    officer.get_by_text("(talking)").first.wait_for()

    context = chromium.new_context()
    amira = context.new_page()
    amira.set_default_timeout(WAIT_MS)
    amira.goto(f"{base}/login")
    amira.get_by_label("Username").fill("amira")
    amira.get_by_label("Password").fill(DEMO_PASSWORD)
    amira.get_by_role("button", name="Sign in").click()
    amira.get_by_role("heading", name="Console").wait_for()
    amira.goto(f"{base}/console/requests/1")
    amira.get_by_label("Bring in").select_option(label="AMHP duty line")
    amira.get_by_label("Privately first (the officer hears hold music)").check()
    amira.get_by_role("button", name="Bring them in").click()
    amira.get_by_text("Calling them now.").wait_for()

    amhp = phones.locator("article", has_text="The line calling +441632960101")
    amhp.get_by_role("button", name="Answer", exact=True).click()
    amhp.get_by_text("You are speaking with the clinician only").wait_for()
    officer.get_by_text("Status: in-progress, in conference AL-1 (on hold: music)").wait_for()

    amira.reload()
    amira.get_by_text("speaking with you only; the officer is on hold").wait_for()
    amira.get_by_role("button", name="Speak together with the officer").click()
    amira.get_by_text("The officer is back on the call with you both.").wait_for()
    officer.get_by_text("(back in the call)", exact=True).wait_for()
    talking = "Status: in-progress, in conference AL-1 (talking)"
    officer.get_by_text(talking, exact=True).wait_for()

    amira.get_by_role("button", name="Drop AMHP duty line from the call").click()
    amira.get_by_text("AMHP duty line is off the call.").wait_for()
    amhp.get_by_text("Status: completed").wait_for()
    officer.get_by_text(talking, exact=True).wait_for()
    context.close()
    phones.close()
