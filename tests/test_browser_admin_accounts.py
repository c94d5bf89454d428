"""An administrator runs staff accounts in a real browser (headless Chromium) against gunicorn."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from advice_line.demo import DEMO_PASSWORD
from tests.conftest import migrate_and_seed, start_server, stop_server

pytestmark = pytest.mark.browser
WAIT_MS = 15_000
TEMPORARY = "a temporary one 1"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The demo line served by gunicorn on its own SQLite database."""
    database = tmp_path / "admin.sqlite3"
    url = f"sqlite:///{database}"
    migrate_and_seed(url)
    server, base = start_server(url)
    try:
        yield base, database
    finally:
        output = stop_server(server)
        assert "Traceback" not in output, output


def account(database: Path, username: str) -> tuple[int, int]:
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT active, must_change_password FROM user_account WHERE username = ?",
            (username,),
        ).fetchone()
    return int(row[0]), int(row[1])


def test_alex_creates_an_account_resets_its_password_and_deactivates_it(
    chromium: Any, served: tuple[str, Path]
) -> None:
    base, database = served
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill("alex")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Administration").wait_for()
        assert page.url == f"{base}/admin/"

        page.get_by_role("link", name="Staff accounts").first.click()
        page.get_by_role("link", name="Create an account").click()
        page.get_by_label("Username", exact=True).fill("Nina")
        page.get_by_label("Name", exact=True).fill("Nina Patel")
        page.get_by_label("Role").select_option("clinician")
        page.get_by_label("Temporary password", exact=True).fill("too short")
        page.get_by_label("Temporary password again").fill("too short")
        page.get_by_role("button", name="Create account").click()
        too_short = "A password has at least 12 characters."
        page.locator("#password-error", has_text=too_short).wait_for()

        page.get_by_label("Temporary password", exact=True).fill(TEMPORARY)
        page.get_by_label("Temporary password again").fill(TEMPORARY)
        page.get_by_role("button", name="Create account").click()
        page.get_by_role("heading", name="Nina Patel (nina)").wait_for()
        page.get_by_text("nina can sign in with the temporary password").wait_for()
        page.get_by_role("link", name="Staff account of Nina Patel").click()
        page.get_by_role("heading", name="Nina Patel").wait_for()
        assert account(database, "nina") == (1, 1)

        page.get_by_label("Temporary password", exact=True).fill(TEMPORARY + "2")
        page.get_by_label("Temporary password again").fill(TEMPORARY + "2")
        page.get_by_role("button", name="Reset password").click()
        page.get_by_text("nina's password is reset").wait_for()

        page.get_by_role("button", name="Deactivate nina").click()
        page.get_by_text("Tick the box to confirm the deactivation.").first.wait_for()
        page.get_by_label("I understand they will be signed out everywhere").check()
        page.get_by_role("button", name="Deactivate nina").click()
        page.get_by_text("nina is deactivated; their sessions have ended.").wait_for()
        page.get_by_role("button", name="Reactivate nina").wait_for()
        assert account(database, "nina") == (0, 1)

        page.get_by_role("link", name="Staff accounts").first.click()
        row = page.locator("#account-nina")
        assert row.locator("td").nth(3).inner_text() == "no"
    finally:
        context.close()
