"""Run a measurement on a fresh SQLite file and on a private PostgreSQL schema."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
Rows = list[tuple[str, str]]


def on_each_database(measure: Callable[[str, str], Rows]) -> Rows:
    """Call ``measure(url, label)`` on SQLite, then on PostgreSQL when it is reachable."""
    with tempfile.TemporaryDirectory() as folder:
        rows = measure(f"sqlite:///{folder}/bench.sqlite3", "SQLite")
    engine = create_engine(POSTGRES_URL)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError:
        engine.dispose()
        return [*rows, ("PostgreSQL", f"skipped: {POSTGRES_URL} unreachable")]
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        rows += measure(url.render_as_string(hide_password=False), "PostgreSQL")
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    return rows
