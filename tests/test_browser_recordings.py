"""A senior plays a call recording in a real browser, under the security policy."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from advice_line.simulator.recorder import tone_wav
from tests.conftest import migrate_and_seed, start_server, stop_server
from tests.fake_twilio import FakeTwilio
from tests.test_browser_console import Browsers, browser_contexts, signed_in, text_message
from tests.twilio_support import ACCOUNT, PUBLIC, signature, twilio_env

pytestmark = pytest.mark.browser


@pytest.fixture
def recording_server(tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[tuple[str, Path]]:
    """The line recording calls, its Twilio the fake, its recordings in a local folder."""
    database = tmp_path / "line.sqlite3"
    url = f"sqlite:///{database}"
    extra = {
        **twilio_env(fake_twilio.base_url),
        "CALL_RECORDING": "true",
        "RECORDINGS_DIR": str(tmp_path / "recordings"),
    }
    migrate_and_seed(url, **extra)
    server, base = start_server(url, **extra)
    try:
        yield base, database
    finally:
        output = stop_server(server)
        assert "Traceback" not in output, output


@pytest.fixture
def browsers(chromium: Any, recording_server: tuple[str, Path]) -> Iterator[Browsers]:
    yield from browser_contexts()


def test_a_senior_plays_the_recording_on_the_request_page_and_the_play_is_audited(
    chromium: Any,
    browsers: Browsers,
    recording_server: tuple[str, Path],
    fake_twilio: FakeTwilio,
) -> None:
    base, database = recording_server
    text_message(base, "+447700900201", "Man on bridge parapet, distressed")
    with sqlite3.connect(database) as db:
        (request_id,) = db.execute("SELECT id FROM advice_request").fetchone()
    params = {
        "AccountSid": ACCOUNT,
        "RecordingSid": fake_twilio.make_recording(tone_wav(3)),
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
    }
    path = f"/twilio/voice/recording/{request_id}"
    reported = requests.post(
        base + path,
        data=params,
        headers={"X-Twilio-Signature": signature(PUBLIC + path, params)},
        timeout=10,
    )
    assert reported.status_code == 204
    page = signed_in(chromium, browsers, base, "sam")
    page.get_by_role("heading", name="Console").wait_for()
    page.goto(f"{base}/console/requests/{request_id}")
    audio = page.get_by_label(f"Recording 1 of AL-{request_id}")
    audio.wait_for()
    duration = audio.evaluate(
        """audio => new Promise((done, failed) => {
            audio.addEventListener("loadedmetadata", () => done(audio.duration));
            audio.addEventListener("error", () => failed(new Error("audio refused")));
            audio.load();
        })"""
    )
    assert duration == pytest.approx(3, abs=0.1)
    with sqlite3.connect(database) as db:
        plays = db.execute(
            "SELECT count(*) FROM audit_event WHERE action = 'recording.played'"
        ).fetchone()[0]
    assert plays >= 1
