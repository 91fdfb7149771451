"""PostgreSQL: schedules, baselines and event data as text, not json

``json`` parsed every document on every write to check it, JSON that Planwire had just
written itself: 0.27 ms for a 1,000-task schedule (about 200 KB) against 0.15 ms as text, and
a task edit writes two (the project's schedule and its ``schedule.recalculated`` event).
Nothing queries inside these columns. Content, key order and lz4 compression are kept.
SQLite is unaffected (its JSON is text already).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from planwire.migrations.documents import retype_documents

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    retype_documents("text")


def downgrade() -> None:
    retype_documents("json")
