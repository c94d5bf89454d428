"""A clinician answers an officer's call in the console's browser phone (demo mode)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from advice_line.demo import CONSOLE_CLINICIAN
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.test_browser_console import (
    Browsers,
    browser_contexts,
    open_console,
    serious_violations,
)
from tests.test_browser_simulator import dial_in

pytestmark = pytest.mark.browser
#: A microphone for the page: Chromium's fake device, allowed without asking.
FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture
def with_microphone(chromium: Any) -> Iterator[Any]:
    """Chromium as the session's, with a (fake) microphone."""
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_MICROPHONE
    )
    yield browser
    browser.close()


@pytest.fixture
def browsers(with_microphone: Any, live_server: tuple[str, str]) -> Iterator[Browsers]:
    """Browser contexts of the test, closed before the server stops."""
    yield from browser_contexts()


def test_an_officers_call_is_answered_in_the_browser_and_hung_up_there(
    with_microphone: Any, browsers: Browsers, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    console = open_console(
        with_microphone, browsers, base, CONSOLE_CLINICIAN, permissions=["microphone"]
    )
    console.locator("#phone-status", has_text="Ready").wait_for()
    simulator = browsers.open(with_microphone)
    simulator.goto(f"{base}/simulator/")
    officer = dial_in(simulator)

    console.locator("#offer-reference", has_text="AL-1").wait_for()
    console.get_by_role("button", name="Accept", exact=True).click()
    console.get_by_text("The line is calling you about the request you accepted.").wait_for()
    browser_leg = simulator.locator("article", has_text="a clinician's browser (client:clinician-")
    browser_leg.get_by_text("Status: ringing").wait_for()
    assert console.get_by_role("button", name="Mute").is_hidden()

    console.get_by_role("button", name="Answer", exact=True).click()
    console.get_by_text("In the call with the officer.").wait_for()
    browser_leg.get_by_text("(talking)").wait_for()
    officer.get_by_text("(talking)").wait_for()
    console.get_by_role("link", name="AL-1 (connected)").wait_for()
    console.get_by_role("button", name="Mute").click()
    assert console.get_by_role("button", name="Unmute").get_attribute("aria-pressed") == "true"

    console.get_by_role("button", name="Hang up").click()
    console.locator("#phone-call").wait_for(state="hidden")
    browser_leg.get_by_text("(call completed)").wait_for()
    console.get_by_role("link", name="AL-1 (wrap up)").wait_for()


def test_without_the_microphone_the_browser_phone_says_calls_ring_the_phone(
    chromium: Any, browsers: Browsers, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    # axe is injected as an inline script, which the pages' policy rightly refuses.
    console = open_console(chromium, browsers, base, CONSOLE_CLINICIAN, bypass_csp=True)
    console.set_viewport_size({"width": 390, "height": 844})
    console.get_by_role("button", name="Answer calls in this browser").wait_for()
    assert serious_violations(console) == []
    assert console.evaluate("document.documentElement.scrollWidth") <= 390
    console.get_by_role("button", name="Answer calls in this browser").click()
    console.locator("#phone-status", has_text="ring your phone").wait_for()
