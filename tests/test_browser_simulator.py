"""A person uses the simulator page in a real browser (headless Chromium)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def dial_in(simulator: Any) -> Any:
    """An officer rings the line, answers by keypad and waits in AL-1's conference."""
    simulator.get_by_role("button", name="Dial the line").click()
    call = simulator.locator("article", has_text="Officer +447700900201 calling the line")
    call.get_by_text("Is there an immediate risk to life?").wait_for()
    for keys, next_prompt in (
        ("1", "Is the person under 18?"),
        ("2", "private home"),
        ("2", "Connecting you to a clinician"),
    ):
        call.get_by_role("textbox").fill(keys)
        call.get_by_role("button", name="Press keys").click()
        call.get_by_text(next_prompt).wait_for()
    call.get_by_text("in conference AL-1").wait_for()
    return call


def test_an_officer_dials_answers_by_keypad_and_waits_in_the_conference(
    chromium: Any, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    page = chromium.new_page()
    dialogs: list[str] = []

    def record_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record_dialog)
    page.goto(f"{base}/simulator/")
    dial_in(page)

    page.get_by_label("Message", exact=True).fill("<script>alert('x')</script> on the bridge")
    page.get_by_role("button", name="Send").click()
    sent = page.locator("#to-line li").first
    sent.wait_for()
    assert "<script>alert('x')</script> on the bridge" in sent.inner_text()
    # The officer is in AL-1's conference: a text from the same phone joins that request.
    assert "Added to AL-1" in sent.inner_text()
    assert dialogs == [], "message text must never run as script"
    page.close()
