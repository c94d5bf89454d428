"""The local spool: Twilio webhooks kept on this host while the database is down.

One SQLite file (``SPOOL_PATH``, by default ``instance/spool.sqlite3``) in WAL mode with
``synchronous=FULL``: an entry is on disk before Twilio is answered, survives kill -9
and a power cut, and several processes on the host can add to it at once (each write is
one short ``BEGIN IMMEDIATE`` transaction). Entries are applied in the order they came
(``id``), one replayer at a time per host: ``replaying`` takes a non-blocking ``flock``
on ``SPOOL_PATH.lock``, which the kernel releases if the process dies.

What it holds is special-category health data (officers' numbers, message bodies): the
file is created 0600 in a 0700 folder, deleted rows are overwritten (``secure_delete``)
and the write-ahead log is truncated whenever the spool is empty again.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

#: An entry that failed this many times (not for want of a database) is held aside.
MAX_ATTEMPTS = 5
_EXTENSION = "advice_line_spool"
BUSY_TIMEOUT_MS = 5000
SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    path TEXT NOT NULL,
    conversation TEXT NOT NULL,
    form TEXT NOT NULL,
    received_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entry_conversation ON entry (conversation, held)
"""


@dataclass(frozen=True)
class Entry:
    """One webhook as it was received: where it went, its checked form, when it came."""

    id: int
    endpoint: str
    path: str
    form: dict[str, str]
    received_at: datetime
    attempts: int


@dataclass(frozen=True)
class Depth:
    """How much the spool holds: entries waiting, entries held aside, the oldest waiting."""

    waiting: int
    held: int
    oldest: datetime | None


class Spool:
    """The spool file at ``path``; nothing is created until the first entry is kept.

    Each process keeps one connection to the file (webhooks ask the spool on every
    request), reopened after a fork or if the file was replaced or removed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        #: (process id, the file's inode, the connection)
        self._open: tuple[int, int, sqlite3.Connection] | None = None
        self._has_table = False

    def _create(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        if self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o600)

    def _connect(self, inode: int) -> sqlite3.Connection:
        if self._open is not None:
            pid, opened_inode, connection = self._open
            if pid == os.getpid() and opened_inode == inode:
                return connection
            if pid == os.getpid():
                connection.close()
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA secure_delete=ON")
        self._open, self._has_table = (os.getpid(), inode, connection), False
        return connection

    @contextmanager
    def _connection(self, *, create: bool = False) -> Iterator[sqlite3.Connection | None]:
        """This process's connection (autocommit); None if there is no spool (or no table
        yet) and none is wanted."""
        with self._lock:
            try:
                inode = self.path.stat().st_ino
            except FileNotFoundError:
                if not create:
                    yield None
                    return
                self._create()
                inode = self.path.stat().st_ino
            connection = self._connect(inode)
            if not self._has_table:
                if create:
                    connection.executescript(SCHEMA)
                self._has_table = create or _has_table(connection)
            yield connection if self._has_table else None

    def keep(
        self,
        endpoint: str,
        path: str,
        form: Mapping[str, str],
        received_at: datetime,
        conversation: str = "",
    ) -> int:
        """Write one entry to disk (fsynced before returning); return its id.

        ``conversation`` names what its order matters within (a CallSid, a sender).
        """
        with self._connection(create=True) as connection:
            assert connection is not None
            cursor = connection.execute(
                "INSERT INTO entry (endpoint, path, conversation, form, received_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (endpoint, path, conversation, json.dumps(dict(form)), received_at.isoformat()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def depth(self) -> Depth:
        """Count what waits and what is held (no contents)."""
        with self._connection() as connection:
            if connection is None:
                return Depth(0, 0, None)
            waiting, held, oldest = connection.execute(
                "SELECT COALESCE(SUM(held = 0), 0), COALESCE(SUM(held), 0),"
                " MIN(CASE WHEN held = 0 THEN received_at END) FROM entry"
            ).fetchone()
        return Depth(waiting, held, datetime.fromisoformat(oldest) if oldest else None)

    def waiting(self, conversation: str | None = None) -> bool:
        """Whether any entry waits to be applied (of ``conversation``, if given)."""
        if conversation is None:
            return self.queue_of("")[1]
        return self.queue_of(conversation)[0]

    def queue_of(self, conversation: str) -> tuple[bool, bool]:
        """In one query: whether entries of ``conversation`` wait, and whether any do."""
        with self._connection() as connection:
            if connection is None:
                return False, False
            of_conversation, any_waiting = connection.execute(
                "SELECT EXISTS (SELECT 1 FROM entry WHERE held = 0 AND conversation = ?),"
                " EXISTS (SELECT 1 FROM entry WHERE held = 0)",
                (conversation,),
            ).fetchone()
        return bool(of_conversation), bool(any_waiting)

    def oldest(self) -> Entry | None:
        """The entry to apply next: the first one kept that is not held aside."""
        with self._connection() as connection:
            if connection is None:
                return None
            row = connection.execute(
                "SELECT id, endpoint, path, form, received_at, attempts FROM entry"
                " WHERE held = 0 ORDER BY id LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        id_, endpoint, path, form, received_at, attempts = row
        return Entry(
            id_, endpoint, path, json.loads(form), datetime.fromisoformat(received_at), attempts
        )

    def remove(self, entry_id: int) -> None:
        """Delete an applied entry; once the spool is empty, truncate its write-ahead log."""
        with self._connection() as connection:
            if connection is None:
                return
            connection.execute("DELETE FROM entry WHERE id = ?", (entry_id,))
            if connection.execute("SELECT 1 FROM entry LIMIT 1").fetchone() is None:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def failed(self, entry_id: int, error: BaseException) -> bool:
        """Count a failed attempt; hold the entry aside after ``MAX_ATTEMPTS``. Say if held."""
        with self._connection() as connection:
            assert connection is not None
            connection.execute(
                "UPDATE entry SET attempts = attempts + 1, last_error = ?,"
                " held = (attempts + 1 >= ?) WHERE id = ?",
                (type(error).__name__, MAX_ATTEMPTS, entry_id),
            )
            row = connection.execute("SELECT held FROM entry WHERE id = ?", (entry_id,)).fetchone()
        return bool(row and row[0])

    @contextmanager
    def replaying(self) -> Iterator[bool]:
        """Try to become this host's one replayer; yield whether we are (never waits)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(f"{self.path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descriptor)  # releases the lock


def _has_table(connection: sqlite3.Connection) -> bool:
    found = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entry'"
    ).fetchone()
    return found is not None


def spool_of(app: Flask) -> Spool:
    """The app's spool (``SPOOL_PATH``): one per app, its connection kept per process."""
    spool = app.extensions.get(_EXTENSION)
    if spool is None or spool.path != Path(app.config["SPOOL_PATH"]):
        spool = app.extensions[_EXTENSION] = Spool(app.config["SPOOL_PATH"])
    return spool
