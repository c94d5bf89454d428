"""Where the line keeps call recordings: a local folder (the default) or S3-compatible storage.

Both offer ``RecordingStore``: put, play and delete by key (``<request id>/<RecordingSid>.wav``);
deleting what is not there is not an error, so the fetch and retention can be repeated.
Playing streams the audio to the current request, never held whole in memory: the byte
range asked for (``Range``) is served as 206 with ``Content-Range`` (the S3 store asks S3
for just that range), and a range that cannot be served is refused with 416.
The folder is 0700 and each file 0600, written whole (a temporary file renamed); S3 puts
ask for server-side encryption (``RECORDINGS_S3_ENCRYPTION``). S3 credentials come from
boto3's usual sources (``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, a profile, an
instance role).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, current_app, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

KEY = re.compile(r"[0-9]{1,12}/RE[0-9a-f]{32}\.wav")
MIMETYPE = "audio/wav"
#: Bytes read from S3 at a time while streaming a recording.
CHUNK = 64 * 1024
_EXTENSION = "recording_store"


class StoreError(Exception):
    """The storage could not keep, give back or remove a recording."""


def key_for(request_id: int, recording_sid: str) -> str:
    """The storage key of a request's recording."""
    key = f"{request_id}/{recording_sid}.wav"
    if not KEY.fullmatch(key):
        raise ValueError(f"not a recording key: {key!r}")
    return key


class RecordingStore(Protocol):
    """Keeps recordings' audio by key."""

    def put(self, key: str, audio: bytes) -> None:
        """Keep ``audio`` under ``key`` (replacing what was there)."""

    def play(self, key: str, download_name: str) -> Response:
        """The audio under ``key`` streamed for the request's range; ``StoreError`` if none."""

    def delete(self, key: str) -> None:
        """Remove what is kept under ``key``, if anything."""


class FolderStore:
    """Recordings as files in one folder (``RECORDINGS_DIR``)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise StoreError(f"not a recording key: {key!r}")
        return self.folder / key

    def put(self, key: str, audio: bytes) -> None:
        """Write the file whole: a temporary file in the same folder, renamed."""
        path = self._path(key)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(audio)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise StoreError(f"could not keep {key}: {error}") from error

    def play(self, key: str, download_name: str) -> Response:
        """Stream the file, its ranges served by Flask's ``send_file``."""
        try:
            return send_file(
                self._path(key),
                mimetype=MIMETYPE,
                conditional=True,
                etag=False,
                download_name=download_name,
            )
        except OSError as error:
            raise StoreError(f"no recording {key}") from error

    def delete(self, key: str) -> None:
        """Remove the file, if there is one."""
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """Recordings as objects in one S3 (or MinIO) bucket."""

    def __init__(self, bucket: str, *, endpoint_url: str | None, encryption: str) -> None:
        self.bucket = bucket
        self.encryption = encryption
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def put(self, key: str, audio: bytes) -> None:
        """Put the object, encrypted at rest by the service."""
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=audio,
                ContentType="audio/wav",
                ServerSideEncryption=self.encryption,
            )
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"could not keep {key}: {error}") from error

    def play(self, key: str, download_name: str) -> Response:
        """Stream the object, or the one byte range asked for, from S3."""
        header = request.headers.get("Range")
        asked = parse_range_header(header) if header else None
        if header and (asked is None or asked.units != "bytes" or len(asked.ranges) != 1):
            raise RequestedRangeNotSatisfiable(self._size(key))
        try:
            got = self.client.get_object(
                Bucket=self.bucket, Key=key, **({"Range": asked.to_header()} if asked else {})
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidRange":
                raise RequestedRangeNotSatisfiable(self._size(key)) from error
            raise StoreError(f"no recording {key}: {error}") from error
        except BotoCoreError as error:
            raise StoreError(f"no recording {key}: {error}") from error
        body = got["Body"]
        response = Response(body.iter_chunks(CHUNK), mimetype=MIMETYPE, direct_passthrough=True)
        response.call_on_close(body.close)
        response.content_length = got["ContentLength"]
        response.accept_ranges = "bytes"
        response.headers.set("Content-Disposition", "inline", filename=download_name)
        if got.get("ContentRange"):
            response.status_code = 206
            response.headers["Content-Range"] = got["ContentRange"]
        return response

    def _size(self, key: str) -> int:
        """The object's length in bytes."""
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"no recording {key}: {error}") from error

    def delete(self, key: str) -> None:
        """Delete the object (S3 answers the same whether it was there or not)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as error:
            raise StoreError(f"could not delete {key}: {error}") from error


def store(app: Flask | None = None) -> RecordingStore:
    """The app's recording store, made once from its settings."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if _EXTENSION not in app.extensions:
        config = app.config
        bucket = config["RECORDINGS_S3_BUCKET"]
        app.extensions[_EXTENSION] = (
            S3Store(
                bucket,
                endpoint_url=config["RECORDINGS_S3_ENDPOINT_URL"],
                encryption=config["RECORDINGS_S3_ENCRYPTION"],
            )
            if bucket
            else FolderStore(config["RECORDINGS_DIR"])
        )
    return app.extensions[_EXTENSION]  # type: ignore[no-any-return]
