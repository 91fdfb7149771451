"""What the migrations that change the type of the document columns share (0004, 0006)."""

from __future__ import annotations

from alembic import op

#: The large JSON documents, written whole and read whole.
DOCUMENT_COLUMNS = (("projects", "schedule"), ("projects", "baseline"), ("events", "data"))
#: ``pg_attribute.attcompression`` codes (empty: the server's default).
_METHODS = {"l": "lz4", "p": "pglz"}


def retype_documents(to: str) -> None:
    """On PostgreSQL, change the type of the document columns to ``to``, keeping each one's
    compression method (a change of type resets it)."""
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
