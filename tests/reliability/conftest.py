"""Fixtures of the reliability and security tests.

Every test here runs under :mod:`tests.reliability.netguard`: traffic to anything but loopback,
and name lookups through the system resolver, fail the test (a test that registers names on
purpose asks for ``allow_name_lookups``; they still fail locally, nothing is sent).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.netguard import Guard, guarded
from tests.support.receiver import receiver

__all__ = ["allow_name_lookups", "net_guard", "receiver"]


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
