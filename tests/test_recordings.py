"""Recording with consent: the notice, the recorded conference, the audio brought home.

Driven as Twilio drives the line (signed webhooks) against the fake Twilio, whose
recording resources are validated by Twilio's OpenAPI description; the audio is kept in
a local folder and, in one test, in a real S3 service (moto's server) over HTTP.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from advice_line import lifecycle
from advice_line.audit import Actor
from advice_line.config import ConfigurationError, settings_from_env
from advice_line.models import AdviceRequest, AuditEvent, Recording, RecordingStatus
from advice_line.recording_store import FolderStore, StoreError, key_for, store
from advice_line.simulator.recorder import tone_wav
from advice_line.spool import Depth, spool_of
from advice_line.telephony import recordings
from advice_line.telephony.webhooks.spooling import replay
from tests.conftest import PRODUCTION_ENV, _free_port
from tests.fake_twilio import FakeTwilio
from tests.test_spool import Outage, outage  # noqa: F401 - outage is a fixture
from tests.test_telephony_voice import (  # noqa: F401 - officer is a fixture
    call_sid,
    known_officer_call,
    officer,
    only_request,
    phone_clinician,
    route,
)
from tests.twilio_support import (
    ACCOUNT,
    PUBLIC,
    Twilio,
    attribute,
    gather_action,
    spoken,
    twilio_env,
)

AUDIO = tone_wav(2)
pytestmark = pytest.mark.usefixtures("officer")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def app_env(
    request: pytest.FixtureRequest, fake_twilio: FakeTwilio, folder: Path
) -> dict[str, str]:
    recording = "false" if request.node.get_closest_marker("recording_off") else "true"
    s3 = request.getfixturevalue("s3") if "s3" in request.fixturenames else {}
    return twilio_env(fake_twilio.base_url) | {
        "CALL_RECORDING": recording,
        "RECORDINGS_DIR": str(folder),
        **s3,
    }


def report(twilio: Twilio, request_id: int, sid: str, **changes: str) -> int:
    """Twilio reports a finished recording of the request's conference."""
    params = {
        "AccountSid": ACCOUNT,
        "ConferenceSid": "CF" + "c" * 32,
        "RecordingSid": sid,
        "RecordingStatus": "completed",
        "RecordingDuration": "42",
        "RecordingChannels": "1",
        "RecordingSource": "StartConferenceRecordingAPI",
    } | changes
    return twilio.post(f"/twilio/voice/recording/{request_id}", params).status_code


def stored(session: Session) -> list[Recording]:
    session.rollback()  # the fetch writes in sessions of its own
    return list(session.scalars(select(Recording).order_by(Recording.id)))


def actions(session: Session, prefix: str) -> list[str]:
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)
        )
    )


def waiting_request(twilio: Twilio, session: Session) -> AdviceRequest:
    known_officer_call(twilio, call_sid())
    return only_request(session)


# --- the notice and the conference's attributes ----------------------------------------


def test_the_officer_hears_the_notice_and_the_conference_is_recorded(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    joined = known_officer_call(twilio, call_sid())
    request = only_request(session)
    heard = spoken(joined)
    assert "This call is recorded" in heard
    assert heard.index("Connecting you to a clinician") < heard.index("This call is recorded")
    callback = f"{PUBLIC}/twilio/voice/recording/{request.id}"
    assert attribute(joined, "Dial/Conference", "record") == "record-from-start"
    assert attribute(joined, "Dial/Conference", "recordingStatusCallback") == callback
    assert attribute(joined, "Dial/Conference", "recordingStatusCallbackEvent") == "completed"
    phone_clinician(session)
    route(session)
    (placed,) = fake_twilio.calls()
    whisper = twilio.twiml(placed.form["Url"], {"CallSid": placed.sid})
    clinician = twilio.twiml(gather_action(whisper), {"CallSid": placed.sid, "Digits": "1"})
    assert attribute(clinician, "Dial/Conference", "record") == "record-from-start"
    assert attribute(clinician, "Dial/Conference", "recordingStatusCallback") == callback


@pytest.mark.recording_off
def test_with_the_setting_off_there_is_no_notice_and_no_recording(
    twilio: Twilio, session: Session
) -> None:
    joined = known_officer_call(twilio, call_sid())
    assert "recorded" not in spoken(joined)
    conference = joined.find("Dial/Conference")
    assert conference is not None
    assert conference.get("record") is None
    assert conference.get("recordingStatusCallback") is None


# --- the report, the fetch and the deletion at Twilio ---------------------------------


def test_a_finished_recording_is_fetched_kept_and_deleted_from_twilio(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio, folder: Path
) -> None:
    request = waiting_request(twilio, session)
    sid = fake_twilio.make_recording(AUDIO)
    assert report(twilio, request.id, sid) == 204
    (recording,) = stored(session)
    assert (recording.recording_sid, recording.duration_seconds) == (sid, 42)
    assert recording.status == RecordingStatus.DELETED_FROM_TWILIO
    assert recording.storage_key == key_for(request.id, sid)
    assert (folder / recording.storage_key).read_bytes() == AUDIO
    assert oct((folder / recording.storage_key).stat().st_mode & 0o777) == oct(0o600)
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    assert (fake_twilio.media_served, fake_twilio.deleted_recordings, fake_twilio.recordings) == (
        [sid],
        [sid],
        {},
    )
    assert actions(session, "recording.") == [
        "recording.reported",
        "recording.stored",
        "recording.deleted_from_twilio",
    ]


def test_a_repeated_or_late_report_changes_nothing(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    request = waiting_request(twilio, session)
    first, second = fake_twilio.make_recording(AUDIO), fake_twilio.make_recording(tone_wav(1))
    # Out of order: the second recording is reported first, then the first twice.
    assert [report(twilio, request.id, sid) for sid in (second, first, first)] == [204] * 3
    rows = stored(session)
    assert [r.recording_sid for r in rows] == [second, first]
    assert {r.status for r in rows} == {RecordingStatus.DELETED_FROM_TWILIO}
    assert fake_twilio.media_served == [second, first]
    # A report repeated after Twilio's copy is gone fetches nothing and fails nothing.
    assert report(twilio, request.id, second) == 204
    assert fake_twilio.media_served == [second, first]
    assert actions(session, "recording.reported").count("recording.reported") == 2


def test_bad_reports_are_refused_and_store_nothing(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio
) -> None:
    request = waiting_request(twilio, session)
    sid = fake_twilio.make_recording(AUDIO)
    path = f"/twilio/voice/recording/{request.id}"
    good = {"RecordingSid": sid, "RecordingStatus": "completed", "RecordingDuration": "3"}
    assert twilio.post(path, good, sign=False).status_code == 403
    tampered = twilio.client.post(path, data=good, headers={"X-Twilio-Signature": "x"})
    assert tampered.status_code == 403
    assert report(twilio, request.id, "CA" + "1" * 32) == 400
    assert report(twilio, request.id, "RE-not-a-sid") == 400
    assert report(twilio, request.id, sid, RecordingDuration="-1") == 400
    assert report(twilio, request.id, sid, RecordingDuration="'; DROP") == 400
    assert report(twilio, request.id + 999, sid) == 404
    assert report(twilio, request.id, sid, RecordingStatus="absent") == 204
    assert stored(session) == []
    assert fake_twilio.media_served == []


def test_a_report_while_the_database_is_down_is_kept_and_the_recording_fetched_when_it_returns(
    app: Flask,
    twilio: Twilio,
    session: Session,
    fake_twilio: FakeTwilio,
    folder: Path,
    request: pytest.FixtureRequest,
) -> None:
    down: Outage = request.getfixturevalue("outage")
    advice = waiting_request(twilio, session)
    request_id, sid = advice.id, fake_twilio.make_recording(AUDIO)
    down.cut()
    assert report(twilio, request_id, "RE-not-a-sid") == 400, "bad input is never kept"
    hostile = {"RecordingSid": sid, "RecordingDuration": "42", "RecordingStatus": "completed"}
    hostile["request_id"] = str(request_id + 1)
    assert twilio.post(f"/twilio/voice/recording/{request_id}", hostile).status_code == 204
    assert report(twilio, request_id, sid) == 204, "Twilio's retry waits behind the first"
    down.restore()
    assert spool_of(app).depth().waiting == 2
    assert stored(session) == [], "nothing is noted until the replay"
    assert fake_twilio.media_served == []

    assert replay(app) == 2
    (recording,) = stored(session)
    assert recording.request_id == request_id, "the request of the path, not of the form"
    assert recording.status == RecordingStatus.DELETED_FROM_TWILIO
    assert (folder / key_for(request_id, sid)).read_bytes() == AUDIO
    assert (fake_twilio.media_served, fake_twilio.recordings) == ([sid], {})
    assert actions(session, "recording.reported") == ["recording.reported"]
    assert spool_of(app).depth() == Depth(0, 0, None)


def test_a_report_of_no_finished_recording_kept_in_the_outage_fetches_nothing(
    app: Flask,
    twilio: Twilio,
    session: Session,
    fake_twilio: FakeTwilio,
    request: pytest.FixtureRequest,
) -> None:
    down: Outage = request.getfixturevalue("outage")
    advice = waiting_request(twilio, session)
    sid = fake_twilio.make_recording(AUDIO)
    down.cut()
    assert report(twilio, advice.id, sid, RecordingStatus="absent") == 204
    down.restore()
    assert replay(app) == 1
    assert stored(session) == []
    assert fake_twilio.media_served == []


def test_a_recording_twilio_does_not_know_is_given_up_visibly(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio, folder: Path
) -> None:
    request = waiting_request(twilio, session)
    unknown = "RE" + "9" * 32
    assert report(twilio, request.id, unknown) == 204
    (recording,) = stored(session)
    assert recording.status == RecordingStatus.REPORTED
    assert recording.attempts == recordings.MAX_ATTEMPTS
    assert "refused" in (recording.last_error or "")
    assert recordings.fetch_due(datetime.now(UTC) + timedelta(hours=1)) == 0
    assert not folder.exists() or list(folder.rglob("*.wav")) == []


def test_twilio_errors_are_retried_and_the_audio_fetched_once(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio, folder: Path
) -> None:
    request = waiting_request(twilio, session)
    sid = fake_twilio.make_recording(AUDIO)
    fake_twilio.fail_next(500, 20500)  # the media GET
    assert report(twilio, request.id, sid) == 204
    (recording,) = stored(session)
    assert (recording.status, recording.attempts) == (RecordingStatus.REPORTED, 1)
    later = datetime.now(UTC) + timedelta(minutes=5)
    fake_twilio.fail_next(503, 20503, "DELETE")  # after the audio is stored
    assert recordings.fetch_due(later) == 0
    (recording,) = stored(session)
    assert recording.status == RecordingStatus.FETCHED
    assert (folder / key_for(request.id, sid)).read_bytes() == AUDIO
    assert recordings.fetch_due(later + timedelta(minutes=5)) == 1
    (recording,) = stored(session)
    assert recording.status == RecordingStatus.DELETED_FROM_TWILIO
    assert (fake_twilio.media_served, fake_twilio.deleted_recordings) == ([sid], [sid])


def test_a_fetch_that_died_mid_way_is_taken_over_after_its_lease(
    twilio: Twilio, session: Session, fake_twilio: FakeTwilio, app: Flask
) -> None:
    request = waiting_request(twilio, session)
    sid = fake_twilio.make_recording(AUDIO)
    app.config["JOBS_INLINE"] = False  # the nudge never runs: as if the process died
    lifecycle.recording_reported(
        session, request.id, sid, duration_seconds=5, now=datetime.now(UTC), actor=Actor("test")
    )
    session.commit()
    now = datetime.now(UTC) + timedelta(seconds=10)
    assert recordings._claim(stored(session)[0].id, now) is not None  # claimed, then died
    assert recordings.fetch_due(now + timedelta(seconds=1)) == 0, "its lease still holds"
    assert recordings.fetch_due(now + recordings.LEASE + timedelta(seconds=1)) == 1
    assert stored(session)[0].status == RecordingStatus.DELETED_FROM_TWILIO
    assert fake_twilio.media_served == [sid]


# --- S3 (moto's server, over HTTP) ----------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield endpoint
    server.terminate()
    server.wait(10)


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A new bucket in the S3 service, and the app's settings for it."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-2",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"recordings-{os.getpid()}-{time.monotonic_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
    )
    return {"RECORDINGS_S3_BUCKET": bucket, "RECORDINGS_S3_ENDPOINT_URL": s3_endpoint}


def test_recordings_are_kept_encrypted_in_s3(
    s3: dict[str, str],
    app: Flask,
    s3_endpoint: str,
    twilio: Twilio,
    session: Session,
    fake_twilio: FakeTwilio,
    folder: Path,
) -> None:
    request = waiting_request(twilio, session)
    sid = fake_twilio.make_recording(AUDIO)
    assert report(twilio, request.id, sid) == 204
    (recording,) = stored(session)
    assert recording.status == RecordingStatus.DELETED_FROM_TWILIO
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    kept = client.get_object(Bucket=s3["RECORDINGS_S3_BUCKET"], Key=recording.storage_key)
    assert kept["Body"].read() == AUDIO
    assert kept["ServerSideEncryption"] == "AES256"
    assert not folder.exists(), "nothing in the local folder"
    store().delete(str(recording.storage_key))
    store().delete(str(recording.storage_key))  # deleting twice is not an error
    with app.test_request_context(), pytest.raises(StoreError):
        store().play(str(recording.storage_key), "gone.wav")


def test_the_folder_store_keeps_only_recording_keys_inside_its_folder(tmp_path: Path) -> None:
    kept = FolderStore(str(tmp_path / "recordings"))
    key = key_for(7, "RE" + "a" * 32)
    kept.put(key, AUDIO)
    assert (tmp_path / "recordings" / key).read_bytes() == AUDIO
    assert [p.name for p in (tmp_path / "recordings" / "7").iterdir()] == [f"RE{'a' * 32}.wav"]
    played = Flask(__name__).test_request_context()
    played.push()
    for hostile in ("../secret.wav", "7/../../x.wav", "/etc/passwd", "7/RE1.wav"):
        with pytest.raises(StoreError):
            kept.play(hostile, "x.wav")
        with pytest.raises(StoreError):
            kept.put(hostile, b"x")
    with pytest.raises(ValueError, match="not a recording key"):
        key_for(7, "../../etc")
    kept.delete(key)
    kept.delete(key)
    with pytest.raises(StoreError):
        kept.play(key, "x.wav")
    played.pop()


# --- the setting ----------------------------------------------------------------------


def test_production_refuses_recording_without_its_storage(tmp_path: Path) -> None:
    on = PRODUCTION_ENV | {"CALL_RECORDING": "true"}
    with pytest.raises(ConfigurationError, match="RECORDINGS_S3_BUCKET"):
        settings_from_env(on, str(tmp_path))
    with pytest.raises(ConfigurationError, match="RECORDINGS_S3_BUCKET"):
        settings_from_env(on | {"RECORDINGS_S3_ENDPOINT_URL": "http://minio:9000"}, str(tmp_path))
    with pytest.raises(ConfigurationError, match="http"):
        settings_from_env(
            on | {"RECORDINGS_S3_BUCKET": "b", "RECORDINGS_S3_ENDPOINT_URL": "minio:9000"},
            str(tmp_path),
        )
    with pytest.raises(ConfigurationError, match="RECORDINGS_S3_BUCKET"):
        settings_from_env(on | {"RECORDINGS_DIR": "recordings"}, str(tmp_path))
    with pytest.raises(ConfigurationError, match="RECORDINGS_S3_ENCRYPTION"):
        settings_from_env(on | {"RECORDINGS_S3_ENCRYPTION": "none"}, str(tmp_path))
    assert settings_from_env(on | {"RECORDINGS_S3_BUCKET": "b"}, str(tmp_path))["CALL_RECORDING"]
    assert (
        settings_from_env(on | {"RECORDINGS_DIR": "/srv/recordings"}, str(tmp_path))[
            "RECORDINGS_DIR"
        ]
        == "/srv/recordings"
    )
    assert settings_from_env(PRODUCTION_ENV, str(tmp_path))["CALL_RECORDING"] is False


def wav_seconds(audio: bytes) -> float:
    with wave.open(io.BytesIO(audio)) as read:
        return float(read.getnframes() / read.getframerate())


def test_the_simulators_recordings_are_real_wav_audio() -> None:
    assert wav_seconds(tone_wav(3)) == 3.0
