"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

import planwire.models  # noqa: F401 - every table on Base.metadata
from planwire.db import Base
from planwire.events.models import Event
from planwire.migrations import alembic_config, upgrade
from planwire.projects.models import Project


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


def column_types(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(
            connection.exec_driver_sql(
                "SELECT table_name || '.' || column_name, data_type "
                "FROM information_schema.columns WHERE (table_name, column_name) IN "
                "(('projects', 'schedule'), ('projects', 'baseline'), ('events', 'data'))"
            ).all()
        )


def test_documents_move_between_jsonb_json_and_text_with_their_content(
    engine: Engine, project: dict[str, Any]
) -> None:
    """0004 and 0006 (PostgreSQL only) change the type of the document columns, both ways,
    keeping their content and their lz4 compression."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL column type")

    def documents() -> list[Any]:
        with engine.connect() as connection:
            schedules = connection.execute(select(Project.schedule)).scalars().all()
            data = connection.execute(select(Event.data).order_by(Event.created_at)).all()
        return [schedules, data]

    before = documents()
    assert before[0] and before[1]  # the project's schedule and its events
    assert set(column_types(engine).values()) == {"text"}
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        for revision, kind in (("0005", "json"), ("0003", "jsonb")):
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, revision)
            assert set(column_types(engine).values()) == {kind}
            with engine.connect() as connection:  # psycopg would parse json and jsonb itself
                stored = connection.exec_driver_sql(
                    "SELECT data::text FROM events ORDER BY created_at"
                ).scalars()
                assert [json.loads(text) for text in stored] == [row[0] for row in before[1]]
    finally:
        upgrade(engine)
    assert set(column_types(engine).values()) == {"text"}
    assert documents() == before
    test_large_json_columns_use_lz4_on_postgresql(engine)


def test_tasks_pages_keep_room_for_updates_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    with engine.connect() as connection:
        options = connection.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE relname = 'tasks'"
        ).scalar()
    assert options == ["fillfactor=70"]
