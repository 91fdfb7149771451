"""Fixtures of the reliability and security tests.

Every test here runs under :mod:`tests.support.netguard`: traffic to anything but loopback,
and name lookups through the system resolver, fail the test (a test that registers names on
purpose asks for ``allow_name_lookups``; they still fail locally, nothing is sent).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from planwire.config import Settings, load_settings
from tests.conftest import TEST_SECRET_KEY
from tests.support.netguard import Guard, guarded
from tests.support.receiver import receiver

__all__ = ["allow_name_lookups", "env_settings", "net_guard", "receiver"]


@pytest.fixture(autouse=True)
def net_guard() -> Iterator[Guard]:
    with guarded() as guard:
        yield guard
    problems = guard.problems()
    assert not problems, f"traffic would have left the host: {problems}"


@pytest.fixture
def allow_name_lookups(net_guard: Guard) -> Guard:
    """Name lookups are expected (e.g. a webhook URL with a host name is registered): they
    fail as unknown names, locally."""
    net_guard.allow_lookups = True
    return net_guard


@pytest.fixture
def env_settings(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Callable[..., Settings]:
    """``read(NAME=value, ...)``: the settings read from ``PLANWIRE_*`` environment variables
    as the processes read them, on the test database, with only the given options set."""

    def read(**variables: str) -> Settings:
        for name in list(os.environ):
            if name.startswith("PLANWIRE_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("PLANWIRE_DATABASE_URL", db_url)
        monkeypatch.setenv("PLANWIRE_SECRET_KEY", TEST_SECRET_KEY)
        monkeypatch.setenv("PLANWIRE_DELIVERY_TIMEOUT", "2")
        for name, value in variables.items():
            monkeypatch.setenv(f"PLANWIRE_{name}", value)
        return load_settings()

    return read
