"""Fixtures for the delivery tests: the real receivers of ``tests.support.receiver``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.receiver import JsRoundtrip, receiver

__all__ = ["js", "receiver"]


@pytest.fixture(scope="session")
def js() -> Iterator[JsRoundtrip]:
    """One Node process for the whole session answering JSON.stringify(JSON.parse(body))."""
    with JsRoundtrip() as roundtrip:
        yield roundtrip
