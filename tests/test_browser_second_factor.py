"""A clinician sets up the second factor in a real browser, then signs in with a code."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from advice_line.demo import DEMO_PASSWORD
from tests.conftest import migrate_and_seed, start_server, stop_server
from tests.test_browser_console import Browsers

pytestmark = pytest.mark.browser


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[str]:
    """The line served by gunicorn as production would have it: password accounts need a code."""
    url = f"sqlite:///{tmp_path / 'second-factor.sqlite3'}"
    extra = {"SECOND_FACTOR_REQUIRED": "true", "SCHEDULER_IN_PROCESS": "false"}
    migrate_and_seed(url, **extra)
    server, base = start_server(url, **extra)
    try:
        yield base
    finally:
        output = stop_server(server)
        assert "Traceback" not in output, output


def password(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("amira")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_enrol_with_the_secret_shown_keep_the_recovery_codes_and_sign_in_with_a_code(
    chromium: Any, strict_server: str
) -> None:
    browsers = Browsers()
    page = browsers.open(chromium)
    try:
        password(page, strict_server)
        page.get_by_role("heading", name="Set up your second factor").wait_for()
        assert page.locator(".app-qr svg").count() == 1
        secret = page.locator("#totp-secret").inner_text().strip()
        totp = pyotp.TOTP(secret)
        page.get_by_label("Code from your app").fill(totp.at(int(time.time())))
        page.get_by_role("button", name="Confirm").click()
        page.get_by_role("heading", name="Your recovery codes").wait_for()
        codes = page.locator("#recovery-codes code").all_inner_texts()
        assert len(codes) == 10
        assert all(re.fullmatch(r"[a-z2-7]{5}-[a-z2-7]{5}", code) for code in codes)
        page.get_by_role("link", name="I have kept my codes: continue").click()
        page.get_by_role("heading", name="Console").wait_for()
        page.get_by_role("button", name=re.compile("^Sign out")).click()
        page.get_by_role("heading", name="Sign in").wait_for()

        password(page, strict_server)
        page.get_by_role("heading", name="Enter your code").wait_for()
        page.get_by_label("Code").fill("000000")
        page.get_by_role("button", name="Sign in").click()
        page.locator("#code-error", has_text="That code is not right").wait_for()
        page.get_by_label("Code").fill(totp.at(int(time.time()), counter_offset=1))
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Console").wait_for()
    finally:
        for context in browsers:
            context.close()
    assert browsers.refused == [], "the pages need nothing the security policy refuses"
