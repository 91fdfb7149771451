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

from planwire.migrations.documents import retype_documents

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    retype_documents("json")


def downgrade() -> None:
    retype_documents("jsonb")
