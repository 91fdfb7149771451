"""The test harness itself works for real: PostgreSQL server and headless Chromium."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Browser, Page

# Also listed in tests/conftest.py; naming them here lets this file run on its own. The helpers
# are imported inside the tests: importing a plugin module before pytest registers it would
# defeat assertion rewriting (a PytestAssertRewriteWarning, an error here).
pytest_plugins = ["tests.support.postgres", "tests.support.browser"]


def _scalar(url: str, sql: str, **params: object) -> object:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def test_postgres_server_is_real(postgres_server_url: str) -> None:
    url = make_url(postgres_server_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "127.0.0.1"
    version = _scalar(postgres_server_url, "select version()")
    assert isinstance(version, str)
    assert version.startswith("PostgreSQL ")
    assert _scalar(postgres_server_url, "show max_connections") == "200"


def test_create_and_drop_database(postgres_server_url: str) -> None:
    from tests.support.postgres import create_database, drop_database

    name = "harness_smoke_db"
    drop_database(postgres_server_url, name)
    database_url = create_database(postgres_server_url, name)
    try:
        assert make_url(database_url).database == name
        assert _scalar(database_url, "select current_database()") == name
        tables = _scalar(
            database_url,
            "select count(*) from information_schema.tables where table_schema = 'public'",
        )
        assert tables == 0
    finally:
        drop_database(postgres_server_url, name)
    exists = _scalar(
        postgres_server_url, "select count(*) from pg_database where datname = :name", name=name
    )
    assert exists == 0


def test_database_name_is_validated(postgres_server_url: str) -> None:
    from tests.support.postgres import create_database

    with pytest.raises(ValueError, match="database name"):
        create_database(postgres_server_url, 'x"; drop database postgres; --')


def test_per_test_database_is_fresh(postgres_database_url: str) -> None:
    engine = create_engine(postgres_database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("create table t (id integer primary key)"))
            conn.execute(text("insert into t values (1), (2)"))
            assert conn.execute(text("select count(*) from t")).scalar_one() == 2
    finally:
        engine.dispose()


def test_chromium_reads_data_url_title(chromium_browser: Browser, page: Page) -> None:
    assert chromium_browser.is_connected()
    page.goto(
        "data:text/html,<html><head><title>Planwire harness</title></head>"
        "<body><h1 id='h'>hello</h1></body></html>"
    )
    assert page.title() == "Planwire harness"
    assert page.locator("#h").inner_text() == "hello"


def test_screenshot_is_saved(page: Page, screenshot: Callable[[str], Path]) -> None:
    page.set_content("<title>shot</title><p style='font-size:40px'>Planwire</p>")
    path = screenshot("content")
    assert path.name == "test_screenshot_is_saved-content.png"
    assert path.parent.parts[-2:] == ("test-artifacts", "screenshots")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_async_tests_still_run_in_a_session_with_a_browser() -> None:
    # Though written after the browser tests, this runs before them: the browser plugin moves
    # browser tests last, because an open sync Playwright holds the thread's event loop.
    await asyncio.sleep(0)
