"""Migrations build exactly the models' schema, on SQLite and PostgreSQL, from one head."""

from __future__ import annotations

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from advice_line import PROJECT_ROOT, create_app
from advice_line.extensions import db
from tests.conftest import demo_env


def test_there_is_a_single_head() -> None:
    config = Config(PROJECT_ROOT / "migrations" / "alembic.ini")
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_migrations_build_the_schema_the_models_describe(database_url: str) -> None:
    app = create_app({"TESTING": True}, env=demo_env(database_url))
    with app.app_context():
        try:
            flask_migrate.upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, db.metadata) == []
            flask_migrate.downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
            flask_migrate.upgrade()
            assert set(inspect(db.engine).get_table_names()) >= set(db.metadata.tables)
        finally:
            db.session.remove()
            db.engine.dispose()
