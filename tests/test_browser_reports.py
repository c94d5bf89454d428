"""A manager moves through the reports in a browser: from a chart's bar to the requests
behind it and on to a timeline, and the live board's tiles, all without accessibility
violations (issue 14, point 5)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser_console import (
    WAIT_MS,
    Browsers,
    browsers,
    console_server,
    serious_violations,
    signed_in,
    text_message,
)

__all__ = ["browsers", "console_server"]  # fixtures of the console tests
pytestmark = pytest.mark.browser


def test_a_bar_of_a_chart_opens_its_requests_and_every_page_on_the_way_is_accessible(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    text_message(base, "+447700900207", "Woman in distress at the station")
    page = signed_in(chromium, browsers, base, "morgan", bypass_csp=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{base}/reports/")
    assert serious_violations(page) == [], "the dashboard"
    # The one request's bar on the hour chart: click the middle of it.
    box = page.evaluate(
        """() => {
            const chart = Chart.getChart('chart-hour');
            const index = chart.data.datasets[0].data.findIndex((n) => n > 0);
            const bar = chart.getDatasetMeta(0).data[index];
            chart.canvas.scrollIntoView();
            const canvas = chart.canvas.getBoundingClientRect();
            return {x: canvas.left + bar.x, y: canvas.top + (bar.y + bar.base) / 2,
                    min: chart.scales.y.min};
        }"""
    )
    assert box["min"] == 0, "the axis starts at zero"
    page.mouse.click(box["x"], box["y"])
    page.wait_for_url(re.compile(r".*/reports/requests\?.*hour=\d+.*"), timeout=WAIT_MS)
    assert page.locator("#total").inner_text() == "1 request."
    assert serious_violations(page) == [], "the requests behind the bar"
    page.locator("#requests a", has_text="AL-").click()
    page.wait_for_url(re.compile(r".*/reports/requests/\d+$"), timeout=WAIT_MS)
    assert "Request arrived" in page.locator("#story").inner_text()
    assert serious_violations(page) == [], "the timeline"


def test_the_live_board_colours_its_tiles_in_words_too_and_draws_the_queue(
    chromium: Any, browsers: Browsers, console_server: tuple[str, Path]
) -> None:
    base, _ = console_server
    page = signed_in(chromium, browsers, base, "morgan", bypass_csp=True)
    page.goto(f"{base}/reports/live")
    page.locator("#board-live", has_text=re.compile(r"^Live$")).wait_for(timeout=WAIT_MS)
    assert page.locator("#tile-waiting").get_attribute("class") == "app-tile app-tile--green"
    assert page.locator("#tile-waiting-status").inner_text() == "Green: on target"
    assert page.locator("#tile-available-status").inner_text() == "Red: act now"
    assert serious_violations(page) == [], "the live board"
    text_message(base, "+447700900208", "Man on the bridge")
    page.locator("#board-waiting", has_text="1").wait_for(timeout=WAIT_MS)
    assert page.locator("#tile-waiting-status").inner_text() == "Red: act now"
    assert "now 1" in page.locator("#sparkline-text").inner_text()
    assert page.locator("#sparkline-line").get_attribute("points")
    assert serious_violations(page) == [], "the live board with a request waiting"
    # Opened again, the board draws the hour from the server, not from an empty line.
    page.reload()
    sparkline = page.locator("#sparkline-text")
    assert sparkline.inner_text() == "Over the last hour the queue was between 0 and 1; now 1."
