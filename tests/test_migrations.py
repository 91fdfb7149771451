"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import planwire.models  # noqa: F401 - every table on Base.metadata
from planwire.db import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], "a model changed without a migration (or the reverse)"


def test_large_json_columns_use_lz4_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    with engine.connect() as connection:
        if not connection.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar():
            pytest.skip("this server is built without lz4")
        methods = dict(
            connection.exec_driver_sql(
                "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE (c.relname, a.attname) IN "
                "(('projects', 'schedule'), ('projects', 'baseline'), ('events', 'data'))"
            ).all()
        )
    assert methods == {"projects.schedule": "l", "projects.baseline": "l", "events.data": "l"}
