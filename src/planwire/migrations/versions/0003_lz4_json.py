"""PostgreSQL: large JSON columns compressed with lz4

A recalculation stores its schedule summary (about 200 KB for 1,000 tasks) on the project and
in its event; PostgreSQL's default pglz compression of such values took longer than the rest
of the request's writes. lz4 compresses them in about half the time. Servers built without
lz4 keep pglz; SQLite is unaffected.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LARGE_JSON_COLUMNS = (("projects", "schedule"), ("projects", "baseline"), ("events", "data"))


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    return bool(
        bind.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar()
    )


def upgrade() -> None:
    if _lz4_available():
        for table, column in LARGE_JSON_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        for table, column in LARGE_JSON_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default")
