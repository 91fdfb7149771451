"""Keep the reliability tests on loopback: no connection, datagram or name lookup leaves the host.

Python's audit hooks see every ``socket.connect``, ``socket.sendto`` / ``sendmsg`` and
``socket.getaddrinfo`` of the process, in every thread (aiohttp's threaded resolver and
asyncio's ``getaddrinfo`` included). While :func:`guarded` is active:

* a connection or datagram to an address that is not loopback raises ``PermissionError`` and is
  recorded as a violation (the test fails, see ``tests/reliability/conftest.py``);
* a lookup of a name other than ``localhost`` never reaches the system resolver (whose
  nameserver is on the network): it fails as an unknown name would (``socket.gaierror``) and is
  recorded. Tests that look names up on purpose (registration checks a URL's host) say so with
  ``allow_lookups``; the lookup still fails locally.

Literal IP hosts pass (``getaddrinfo("127.0.0.1")`` sends nothing). Child processes are not
covered: the tests that start them give them loopback URLs only. Audit hooks cannot be removed,
so the hook is installed once and does nothing while no guard is active.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Guard", "guarded"]

_LOCAL_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


@dataclass
class Guard:
    allow_lookups: bool = False
    violations: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, what: str) -> None:
        with self._lock:
            (self.lookups if kind == "lookup" else self.violations).append(what)

    def problems(self) -> list[str]:
        found = list(self.violations)
        if not self.allow_lookups:
            found += [f"name lookup of {name!r}" for name in self.lookups]
        return found


_active: Guard | None = None
_installed = False


def _is_loopback_host(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _is_literal(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return host is None
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _hook(event: str, args: tuple[Any, ...]) -> None:
    guard = _active
    if guard is None:
        return
    if event == "socket.getaddrinfo":
        host = args[0]
        if _is_literal(host) or (isinstance(host, str) and host.lower() in _LOCAL_NAMES):
            return
        if isinstance(host, bytes) and host.decode("ascii", "replace").lower() in _LOCAL_NAMES:
            return
        guard.note("lookup", str(host))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (network guard)")
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[1] if len(args) > 1 else None
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return  # Unix sockets, netlink: never leave the host
        if address is None and event == "socket.sendmsg":
            return  # on a connected socket: its connect was checked
        host = address[0] if isinstance(address, tuple) and address else address
        if _is_loopback_host(host):
            return
        guard.note("network", f"{event} to {address!r}")
        raise PermissionError(f"network guard: {event} to {address!r} leaves the host")


@contextlib.contextmanager
def guarded(*, allow_lookups: bool = False) -> Iterator[Guard]:
    """Guard the network while the block runs; yields the :class:`Guard` with what it saw."""
    global _active, _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    guard = Guard(allow_lookups=allow_lookups)
    previous, _active = _active, guard
    try:
        yield guard
    finally:
        _active = previous
