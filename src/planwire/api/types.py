"""Field types shared by the API schemas, for input that pydantic's defaults would let through.

- ``NotBool``: JSON ``true``/``false`` is not a number (pydantic would read it as 1/0).
- ``NoNul``: text without NUL characters, which PostgreSQL cannot store in text or JSON columns.
"""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, BeforeValidator


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


NotBool = BeforeValidator(_not_bool)
NoNul = AfterValidator(_no_nul)
