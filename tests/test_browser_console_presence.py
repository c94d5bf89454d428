"""Issue 14, points 1-3 in a real browser: a call-back done from its task, presence on
every console page, offers that cannot be missed, and the request's thread live."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.test_browser_console import (
    Browsers,
    browser_contexts,
    line_with_nobody_on_duty,
    open_console,
    serious_violations,
    text_message,
)
from tests.twilio_support import ACCOUNT, LINE_NUMBER, PUBLIC, signature

pytestmark = pytest.mark.browser
OFFER_SECONDS = 5
#: Counts the ring's tones: every oscillator the page starts (no sound in a test).
COUNT_RINGS = """
window.ringsStarted = 0;
window.AudioContext = class {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createGain() { return { gain: {}, connect() {} }; }
  createOscillator() {
    return { frequency: {}, connect() {}, start() { window.ringsStarted += 1; }, stop() {} };
  }
};
"""


@pytest.fixture
def line(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The line with short offers, heartbeat and presence grace."""
    yield from line_with_nobody_on_duty(
        tmp_path, PRESENCE_GRACE_SECONDS="3", OFFER_TIMEOUT_SECONDS=str(OFFER_SECONDS)
    )


@pytest.fixture
def browsers(chromium: Any, line: tuple[str, Path]) -> Iterator[Browsers]:
    yield from browser_contexts()


def query(database: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as db:
        return db.execute(sql, args).fetchall()


def status_of(database: Path, username: str) -> str:
    ((status,),) = query(
        database,
        "SELECT c.status FROM clinician c JOIN user_account u ON u.id = c.user_id"
        " WHERE u.username = ?",
        username,
    )
    return str(status)


def until(check: Callable[[], bool], *, seconds: float) -> bool:
    """Whether ``check`` comes true within ``seconds`` (polled from here: the pages'
    security policy refuses the string predicates of ``wait_for_function``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def twilio_post(base: str, path: str, params: dict[str, str]) -> None:
    params = {"AccountSid": ACCOUNT, **params}
    response = requests.post(
        base + path,
        data=params,
        headers={"X-Twilio-Signature": signature(PUBLIC + path, params)},
        timeout=10,
    )
    assert response.status_code in {200, 204}, response.text


def test_an_abandoned_call_is_called_back_from_its_task_on_the_same_request(
    chromium: Any, browsers: Browsers, line: tuple[str, Path]
) -> None:
    base, database = line
    sid = "CA" + uuid.uuid4().hex
    # PC Ravi Shah (MP5678) rings from his registered phone, then hangs up in the menu.
    twilio_post(base, "/twilio/voice", {"CallSid": sid, "From": "+447700900202", "To": LINE_NUMBER})
    twilio_post(base, "/twilio/voice/status", {"CallSid": sid, "CallStatus": "completed"})
    amira = open_console(chromium, browsers, base, "amira", bypass_csp=True)
    amira.get_by_role("link", name="Tasks", exact=True).click()
    task = amira.locator("section.app-panel", has_text="Call the officer back")
    task.get_by_role("link", name="AL-1").wait_for()
    task.get_by_text("Due").wait_for()
    assert serious_violations(amira) == []

    task.get_by_role("button", name="Call the officer back").click()
    amira.get_by_text("Calling the officer back on AL-1").wait_for()
    assert amira.url.endswith("/console/requests/1")
    # The officer's identity, kept on the same request.
    amira.locator("dd", has_text="PC Ravi Shah, MP5678").wait_for()
    assert query(database, "SELECT count(*), max(status) FROM advice_request") == [(1, "accepted")]
    assert serious_violations(amira) == []
    amira.get_by_role("button", name="Call the officer", exact=True).click()  # again
    amira.get_by_text("already being called").wait_for()
    assert query(
        database, "SELECT count(*) FROM outbox WHERE purpose = 'officer_back' AND request_id = 1"
    ) == [(1,)], "one call to the officer, however often pressed"


def test_a_clinician_on_the_tasks_page_stays_available_and_is_offered_there(
    chromium: Any, browsers: Browsers, line: tuple[str, Path]
) -> None:
    base, database = line
    amira = open_console(chromium, browsers, base, "amira")
    amira.add_init_script(COUNT_RINGS)
    amira.get_by_role("link", name="Tasks", exact=True).click()
    amira.get_by_text("Connected").wait_for()
    amira.wait_for_timeout(3 * 3000)  # three times the presence grace
    assert status_of(database, "amira") == "available"
    assert amira.locator("#presence-warning").is_hidden()

    text_message(base, "+447700900201", "Man on the bridge parapet, shouting, will not come down")
    card = amira.locator("#offer")
    card.locator("#offer-reference", has_text="AL-1").wait_for()
    assert amira.locator("#offer-channel").inner_text() == "SMS"
    assert amira.locator("#offer-force").inner_text() == "Metropolitan Police Service"
    assert "Man on the bridge parapet" in amira.locator("#offer-words").inner_text()
    card.get_by_text("not answered: risk to life, under 18, dwelling").wait_for()
    first = amira.locator("#offer-waited").inner_text()
    assert re.fullmatch(r"\d+:\d{2}", first)
    assert until(lambda: amira.locator("#offer-waited").inner_text() != first, seconds=3), (
        "the waiting time counts on"
    )
    amira.get_by_role("button", name="Accept", exact=True).click()
    amira.wait_for_url(re.compile(r"/console/requests/1$"))
    amira.get_by_text("Man on the bridge parapet").wait_for()


def test_a_dropped_connection_is_explained_and_coming_back_restores_availability(
    chromium: Any, browsers: Browsers, line: tuple[str, Path]
) -> None:
    base, database = line
    amira = open_console(chromium, browsers, base, "amira")
    amira.get_by_role("link", name="Tasks", exact=True).click()
    amira.get_by_text("Connected").wait_for()
    amira.evaluate("window.adviceLine.socket.disconnect()")
    warning = amira.locator("#presence-warning")
    warning.get_by_text(re.compile(r"lost its connection.*set offline")).wait_for()
    assert "seconds" in warning.inner_text()
    for _ in range(50):  # the line's presence sweep sets her offline after the grace
        if status_of(database, "amira") == "offline":
            break
        amira.wait_for_timeout(200)
    assert status_of(database, "amira") == "offline"
    amira.evaluate("window.adviceLine.socket.connect()")
    amira.get_by_text("you are available again").wait_for()
    assert warning.is_hidden()
    for _ in range(25):
        if status_of(database, "amira") == "available":
            break
        amira.wait_for_timeout(200)
    assert status_of(database, "amira") == "available"


def test_an_offer_rings_and_flashes_until_it_expires_then_says_missed(
    chromium: Any, browsers: Browsers, line: tuple[str, Path]
) -> None:
    base, _ = line
    amira = open_console(chromium, browsers, base, "amira", bypass_csp=True)
    amira.add_init_script(COUNT_RINGS)
    amira.reload()
    amira.get_by_text("Connected").wait_for()
    text_message(base, "+447700900203", "Young person on the railway footbridge")
    amira.locator("#offer-reference", has_text="AL-1").wait_for()
    assert until(lambda: amira.title().startswith("Offer: AL-1"), seconds=5)
    assert amira.locator("#offer-force").inner_text() == "British Transport Police"
    assert serious_violations(amira) == [], "the offer card as shown"
    assert until(lambda: amira.evaluate("window.ringsStarted") >= 4, seconds=5), "it rings again"
    amira.locator("#offer-missed", has_text="Missed: AL-1").wait_for(
        timeout=(OFFER_SECONDS + 10) * 1000
    )
    assert amira.locator("#offer").is_hidden()
    rings = amira.evaluate("window.ringsStarted")
    amira.wait_for_timeout(2500)
    assert amira.evaluate("window.ringsStarted") == rings, "the ringing stops"
    assert not amira.title().startswith("Offer:")


def test_the_request_page_shows_a_new_officer_message_without_reload(
    chromium: Any, browsers: Browsers, line: tuple[str, Path]
) -> None:
    base, _ = line
    amira = open_console(chromium, browsers, base, "amira", bypass_csp=True)
    text_message(base, "+447700900204", "Woman at the station asking for help")
    amira.locator("#offer-reference", has_text="AL-1").wait_for()
    amira.get_by_role("button", name="Accept", exact=True).click()
    amira.get_by_role("link", name="AL-1 (connected)").click()
    amira.get_by_text("Woman at the station asking for help").wait_for()
    amira.evaluate("window.notReloaded = true")
    text_message(base, "+447700900204", "She has now sat down with us")
    amira.locator("#thread li", has_text="She has now sat down with us").wait_for()
    assert amira.evaluate("window.notReloaded") is True
    assert serious_violations(amira) == []


def test_offline_chosen_in_one_tab_is_not_undone_by_another(
    chromium: Any, browsers: Browsers, line: tuple[str, Path]
) -> None:
    base, database = line
    amira = open_console(chromium, browsers, base, "amira")
    tasks = amira.context.new_page()
    tasks.goto(f"{base}/console/tasks")
    tasks.get_by_text("Connected").wait_for()
    amira.get_by_role("button", name="Offline", exact=True).click()
    amira.locator("#my-status", has_text="offline").wait_for()
    tasks.wait_for_timeout(2000)
    assert status_of(database, "amira") == "offline"
    assert tasks.locator("#presence-news").inner_text() == ""
