"""Playing recordings (who may, the audit of each play), retention, and the simulator's path."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.models import AdviceRequest, AuditEvent, Recording, RecordingStatus
from advice_line.recording_store import key_for, store
from advice_line.retention import PSEUDONYMISED
from advice_line.simulator.recorder import tone_wav
from tests.test_console import busy_floor, message_request, sign_in
from tests.test_recordings import s3, s3_endpoint  # noqa: F401 - moto's S3 as fixtures
from tests.test_retention import old_request
from tests.test_simulator import (  # noqa: F401 - demo and the TwiML check are fixtures
    OFFICER,
    _every_twiml_answer_is_valid,
    act,
    call_to,
    demo,
    route,
    the_request,
)

ACTOR = Actor("test")
AUDIO = tone_wav(2)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def app_env(request: pytest.FixtureRequest, folder: Path) -> dict[str, str]:
    bucket = request.getfixturevalue("s3") if "s3" in request.fixturenames else {}
    return {"CALL_RECORDING": "true", "RECORDINGS_DIR": str(folder), **bucket}


def keep_recording(session: Session, request_id: int) -> Recording:
    """A recording of the request already brought home (stored, gone from Twilio)."""
    now, sid = utcnow(), "RE" + uuid.uuid4().hex
    recording = lifecycle.recording_reported(
        session, request_id, sid, duration_seconds=2, now=now, actor=ACTOR
    )
    assert recording is not None
    store().put(key_for(request_id, sid), AUDIO)
    lifecycle.recording_stored(
        session, recording.id, key_for(request_id, sid), now=now, actor=ACTOR
    )
    lifecycle.recording_deleted_from_twilio(session, recording.id, now=now, actor=ACTOR)
    session.commit()
    return recording


def plays(session: Session) -> list[tuple[int | None, dict[str, object]]]:
    session.rollback()
    return [
        (event.actor_user_id, event.detail)
        for event in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "recording.played")
            .order_by(AuditEvent.id)
        )
    ]


@pytest.fixture
def recorded(session: Session) -> tuple[AdviceRequest, Recording]:
    busy_floor(session)
    request = message_request(session, accepted_by="amira")
    return request, keep_recording(session, request.id)


@pytest.fixture
def simulated(request: pytest.FixtureRequest) -> FlaskClient:
    """The demo's people and a client for its simulator page (``test_simulator``'s demo)."""
    client: FlaskClient = request.getfixturevalue("demo")
    return client


def audio_url(request: AdviceRequest, recording: Recording) -> str:
    return f"/console/requests/{request.id}/recordings/{recording.id}.wav"


@pytest.mark.parametrize("who", ["amira", "sam", "morgan"])
def test_the_requests_clinician_seniors_and_managers_play_it_and_each_play_is_audited(
    app: Flask, session: Session, recorded: tuple[AdviceRequest, Recording], who: str
) -> None:
    request, recording = recorded
    client = sign_in(app, who)
    page = "/reports/requests/{}" if who == "morgan" else "/console/requests/{}"
    shown = client.get(page.format(request.id)).get_data(as_text=True)
    assert f'<audio controls preload="none" src="{audio_url(request, recording)}"' in shown
    played = client.get(audio_url(request, recording), buffered=True)
    assert played.status_code == 200
    assert played.mimetype == "audio/wav"
    assert played.data == AUDIO
    assert played.headers["Cache-Control"] == "no-store, private"
    assert "media-src 'self'" in played.headers["Content-Security-Policy"]
    part = client.get(audio_url(request, recording), headers={"Range": "bytes=0-99"}, buffered=True)
    assert (part.status_code, part.data) == (206, AUDIO[:100])
    users = {user for user, _ in plays(session)}
    assert len(users) == 1
    assert None not in users
    assert [detail["range"] for _, detail in plays(session)] == ["", "bytes=0-99"]


def test_byte_ranges_are_streamed_from_the_folder_and_a_range_it_cannot_serve_is_refused(
    app: Flask,
    session: Session,
    recorded: tuple[AdviceRequest, Recording],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Path, "read_bytes", _never_read_whole)
    served_in_ranges(app, session, *recorded)


@pytest.mark.usefixtures("s3")
def test_byte_ranges_are_asked_of_s3_and_a_range_it_cannot_serve_is_refused(
    app: Flask,
    session: Session,
    recorded: tuple[AdviceRequest, Recording],
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not folder.exists(), "kept in S3 alone"
    client = store().client  # type: ignore[attr-defined]
    get_object, asked_of_s3 = client.get_object, []

    def recorded_get_object(**asked: str) -> dict[str, object]:
        asked_of_s3.append(asked.get("Range"))
        return get_object(**asked)  # type: ignore[no-any-return]

    monkeypatch.setattr(client, "get_object", recorded_get_object)
    served_in_ranges(app, session, *recorded)
    assert asked_of_s3[:4] == [None, "bytes=0-99", "bytes=1000-", "bytes=-44"], "S3 sends the range"


def served_in_ranges(
    app: Flask, session: Session, asked: AdviceRequest, recording: Recording
) -> None:
    """Whole, in ranges (206 with their bytes) and refused ranges (416); plays audited."""
    client, url, size = sign_in(app, "sam"), audio_url(asked, recording), len(AUDIO)
    whole = client.get(url, buffered=True)
    assert (whole.status_code, whole.data) == (200, AUDIO)
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Length"] == str(size)
    for header, start, stop in [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-", 1000, size),
        ("bytes=-44", size - 44, size),
        (f"bytes=100-{size + 500}", 100, size),
    ]:
        part = client.get(url, headers={"Range": header}, buffered=True)
        assert part.status_code == 206, header
        assert part.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}", header
        assert part.headers["Content-Length"] == str(stop - start)
        assert part.data == AUDIO[start:stop], header
        assert part.headers["Cache-Control"] == "no-store, private"
        assert part.headers["Content-Disposition"].startswith("inline")
    for bad in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=0-9,20-29", "lines=1-2"):
        refused = client.get(url, headers={"Range": bad}, buffered=True)
        assert refused.status_code == 416, bad
        assert refused.headers["Content-Range"] == f"bytes */{size}", bad
        assert refused.data != AUDIO
    assert [detail["range"] for _, detail in plays(session)] == [
        "",
        "bytes=0-99",
        "bytes=1000-",
        "bytes=-44",
        f"bytes=100-{size + 500}",
    ], "each play is audited, a refused range is not a play"


def _never_read_whole(path: Path) -> bytes:
    raise AssertionError(f"{path} read whole into memory")


def test_a_recording_missing_from_the_store_is_a_404_and_not_audited(
    app: Flask, session: Session, recorded: tuple[AdviceRequest, Recording], folder: Path
) -> None:
    asked, recording = recorded
    (folder / str(recording.storage_key)).unlink()
    missing = sign_in(app, "sam").get(audio_url(asked, recording))
    assert missing.status_code == 404
    assert "could not be found in the line" in missing.get_data(as_text=True)
    assert plays(session) == []


@pytest.mark.parametrize("who", ["ben", "alex"])
def test_others_are_refused_with_a_page_that_says_why_and_nothing_is_audited(
    app: Flask, session: Session, recorded: tuple[AdviceRequest, Recording], who: str
) -> None:
    request, recording = recorded
    refused = sign_in(app, who).get(audio_url(request, recording))
    assert refused.status_code == 403
    assert refused.data != AUDIO
    said = refused.get_data(as_text=True)
    if who == "ben":  # a clinician who did not take it: the rule, in words
        assert "for the clinicians who took it, senior clinicians and managers" in said
    else:
        assert "Your role does not give you access" in said
    assert plays(session) == []


def test_unknown_recordings_and_signed_out_users_get_nothing(
    app: Flask, session: Session, recorded: tuple[AdviceRequest, Recording]
) -> None:
    request, recording = recorded
    client = sign_in(app, "sam")
    assert client.get(f"/console/requests/{request.id}/recordings/999.wav").status_code == 404
    other = message_request(session)
    assert client.get(audio_url(other, recording)).status_code == 404, "not that request's"
    signed_out = sign_in(app, "anonymous").get(audio_url(request, recording))
    assert signed_out.status_code == 302
    assert "/login" in signed_out.headers["Location"]
    assert plays(session) == []


def test_retention_deletes_the_recordings_of_what_it_pseudonymises(
    app: Flask, session: Session, folder: Path
) -> None:
    old = old_request(session, datetime.now(UTC).year - 21)
    recent = old_request(session, datetime.now(UTC).year - 1)
    gone, kept = keep_recording(session, old), keep_recording(session, recent)
    gone_key, gone_sid = gone.storage_key, gone.recording_sid
    applied = app.test_cli_runner().invoke(args=["retention", "--apply"])
    assert "Pseudonymised 1 requests" in applied.output, applied.output
    session.rollback()
    assert not (folder / str(gone_key)).exists()
    assert (folder / str(kept.storage_key)).read_bytes() == AUDIO
    purged = session.get_one(Recording, gone.id)
    assert (purged.status, purged.storage_key) == (RecordingStatus.PURGED, None)
    assert purged.recording_sid == f"{PSEUDONYMISED}-{purged.id}"
    events = session.scalars(select(AuditEvent).where(AuditEvent.request_id == old)).all()
    assert "recording.reported" in [event.action for event in events]
    assert [event for event in events if gone_sid in f"{event.detail} {event.source}"] == []
    run = session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == "retention.pseudonymised")
    ).one()
    assert run["recordings_purged"] == 1


def test_the_simulator_records_the_conference_and_the_line_keeps_it(
    app: Flask, session: Session, simulated: FlaskClient, folder: Path
) -> None:
    state = act(simulated, action="dial", number=OFFICER)
    officer_call = call_to(state, OFFICER)
    for digits in ("1", "2", "2"):
        state = act(simulated, action="press", sid=officer_call["sid"], digits=digits)
    assert "This call is recorded" in " ".join(call_to(state, OFFICER)["transcript"])
    route(app)
    state = act(simulated, action="refresh", sid=officer_call["sid"])
    (ringing,) = [c for c in state["calls"] if c["direction"] == "outbound"]
    act(simulated, action="answer", sid=ringing["sid"])
    act(simulated, action="press", sid=ringing["sid"], digits="1")
    act(simulated, action="hangup", sid=officer_call["sid"])
    request = the_request(session)
    (recording,) = session.scalars(select(Recording)).all()
    assert recording.request_id == request.id
    assert recording.status == RecordingStatus.DELETED_FROM_TWILIO
    audio = (folder / str(recording.storage_key)).read_bytes()
    assert audio[:4] == b"RIFF"
    assert audio[8:12] == b"WAVE"
    assert app.extensions["simulator"].recordings == {}, "deleted from the simulated Twilio"
    page = sign_in(app, "sam").get(f"/console/requests/{request.id}").get_data(as_text=True)
    assert re.search(r"<audio controls[^>]+recordings/\d+\.wav", page)


def test_the_admin_sees_whether_calls_are_recorded_and_where(app: Flask, session: Session) -> None:
    busy_floor(session)
    page = sign_in(app, "alex").get("/admin/settings").get_data(as_text=True)
    assert "CALL_RECORDING" in page
    assert "conferences are recorded; the officer hears a notice first" in page
    assert "RECORDINGS_S3_BUCKET" in page
