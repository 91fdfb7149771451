"""Database engine, declarative base and the column types shared by every domain.

SQLite is the embedded default (WAL mode, every transaction ``BEGIN IMMEDIATE`` so concurrent
writers queue on the busy timeout instead of failing on a lock upgrade); PostgreSQL is for
scale. Times are always timezone-aware UTC, on both backends.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Engine, MetaData, Text, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class _JSONText(TypeDecorator[Any]):
    """JSON kept as plain text: written with :func:`json_dumps`, read with the standard
    library, as SQLAlchemy's JSON type does on SQLite."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json_dumps(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


#: Large documents written whole and read whole, never queried inside (a project's schedule
#: and baseline, an event's data): on PostgreSQL plain ``text``, stored as sent, in the order
#: written, as on SQLite. ``jsonb`` parsed a 1,000-task schedule (about 200 KB) into its
#: binary form on every write and printed it back on every read; ``json`` still parsed it on
#: every write, to check JSON that Planwire itself had just written (0.27 ms against 0.15 ms
#: for text, and a task edit writes two). Both for operators nothing uses.
JSONDocument = JSON().with_variant(_JSONText(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def json_dumps(value: Any) -> str:
    """JSON columns are written with orjson: a recalculation of a 1,000-task project stores
    about 200 KB of schedule twice (on the project and in its event), which took the
    standard library's encoder more time than the rest of the write. Non-string keys become
    strings, as the standard library does; integers beyond 64 bits, which orjson refuses, go
    through the standard library. (Reading stays with the standard library: orjson turns
    such integers into floats.)"""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine configured for Planwire's two backends."""
    json_options: dict[str, Any] = {"json_serializer": json_dumps}
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=20,
            **json_options,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, **json_options
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so we can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
