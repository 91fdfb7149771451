"""PostgreSQL: schedules, baselines and event data as json, not jsonb

These documents are written whole and read whole, never queried inside. ``jsonb`` parsed a
1,000-task schedule (about 200 KB) into its binary form on every write and printed it back on
every read, twice the cost of ``json`` each way; ``json`` also keeps the keys in the order
written. The lz4 compression of 0003 is kept. SQLite is unaffected.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DOCUMENT_COLUMNS = (("projects", "schedule"), ("projects", "baseline"), ("events", "data"))
#: ``pg_attribute.attcompression`` codes (empty: the server's default).
_METHODS = {"l": "lz4", "p": "pglz"}


def _retype(to: str) -> None:
    """Change the type of the document columns, keeping each one's compression method (a
    change of type resets it)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, column in DOCUMENT_COLUMNS:
        method = bind.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = %(table)s::regclass AND attname = %(column)s",
            {"table": table, "column": column},
        ).scalar()
        alter = f"ALTER TABLE {table} ALTER COLUMN {column}"
        op.execute(f"{alter} TYPE {to} USING {column}::{to}")
        if method in _METHODS:
            op.execute(f"{alter} SET COMPRESSION {_METHODS[method]}")


def upgrade() -> None:
    _retype("json")


def downgrade() -> None:
    _retype("jsonb")
