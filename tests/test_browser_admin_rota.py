"""An administrator imports a rota export in a real browser and sees the coverage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from advice_line.clock import LONDON, utcnow
from tests.test_browser_console import Browsers, browser_contexts, serious_violations, signed_in

pytestmark = pytest.mark.browser


@pytest.fixture
def browsers(chromium: Any, live_server: tuple[str, str]) -> Iterator[Browsers]:
    """Browser contexts of the test, closed before the live server stops."""
    yield from browser_contexts()


def test_alex_imports_a_rota_fixes_the_bad_line_and_sees_the_coverage(
    chromium: Any, browsers: Browsers, live_server: tuple[str, str], tmp_path: Path
) -> None:
    base, _ = live_server
    day = (utcnow() + timedelta(days=5)).astimezone(LONDON).date()
    good = f"staff_id,name,date,start,end,duty\nben,Ben,{day:%d/%m/%Y},08:00,20:00,Day\n"
    bad = good + f"amira,Amira,{day:%d/%m/%Y},8am,20:00,Day\n"
    (tmp_path / "bad.csv").write_text(bad)
    (tmp_path / "good.csv").write_text(good)

    alex = signed_in(chromium, browsers, base, "alex")
    alex.goto(f"{base}/admin/rota")
    alex.get_by_label("Rota file (CSV)").set_input_files(str(tmp_path / "bad.csv"))
    alex.get_by_role("button", name="Import", exact=True).click()
    problems = alex.locator("#import-problems")
    problems.get_by_text("Nothing was imported").wait_for()
    assert "Line 3: start: '8am' is not a time" in problems.inner_text()
    ben_shifts = alex.locator("h3:has-text('Dr Ben Hughes') + table tbody tr")
    before = ben_shifts.count()
    assert before == 3, "the demo's three shifts: nothing was imported"

    alex.get_by_label("Rota file (CSV)").set_input_files(str(tmp_path / "good.csv"))
    alex.get_by_role("button", name="Import", exact=True).click()
    alex.get_by_text("1 shift imported.").wait_for()
    assert ben_shifts.count() == before + 1

    alex.get_by_role("link", name="Coverage for the next 14 days").click()
    alex.get_by_role("heading", name="Coverage for the next 14 days").wait_for()
    gaps = alex.locator("#gaps li")
    assert gaps.count() > 0
    assert "no qualifying clinician" in alex.locator("#gaps").inner_text()
    assert alex.locator("#coverage-grid tbody tr").count() >= 14


def test_the_rota_and_coverage_pages_have_no_serious_accessibility_violations(
    chromium: Any, browsers: Browsers, live_server: tuple[str, str]
) -> None:
    base, _ = live_server
    # axe is injected as an inline script, which the pages' policy rightly refuses.
    page = signed_in(chromium, browsers, base, "alex", bypass_csp=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    for path in ("/admin/rota", "/admin/coverage"):
        page.goto(base + path)
        assert serious_violations(page) == [], path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1366, f"{path} fits a laptop screen without sideways scrolling"
