"""A small, fast webhook receiver for the benchmarks: one process, loopback only.

A raw asyncio HTTP/1.1 server (httptools parser, uvloop) that answers every POST with
``200 OK`` on a kept-alive connection, counts it and, with ``--secret``, verifies its
``X-TruePPM-Signature`` (``sha256=<hex HMAC-SHA256(secret, raw body)>``) or
``X-Exepron-Signature`` (``<hex>``) header. With ``--record`` it also keeps, per request, the
``X-Planwire-Event-Id`` header and the arrival time (``time.time()``), for the latency
benchmark. Every benchmark sends to this one receiver, the wire ceiling included, so their
figures compare like with like.

Control routes (answered as JSON, not counted): ``GET /_stats`` (``count``, ``verified``,
``bad``, ``unsigned``, ``first``, ``last``), ``GET /_arrivals`` (``[[event_id, time], ...]``)
and ``POST /_reset``.

Run as ``python benchmarks/receiver.py [--port 0] [--secret S] [--record]``: it prints
``port <n>`` on its first line, then serves until its parent process exits, it receives
SIGTERM, or ``--max-seconds`` pass (it always stops by itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sys
import time
from typing import Any, cast

import httptools
import uvloop

_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nOK"
)
_SIGNATURE_HEADERS = (b"x-trueppm-signature", b"x-exepron-signature")
_EVENT_ID = b"x-planwire-event-id"


class Stats:
    def __init__(self, secret: str | None, record: bool) -> None:
        self.key = secret.encode() if secret else None
        self.record = record
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.verified = 0
        self.bad = 0
        self.unsigned = 0
        self.first = 0.0
        self.last = 0.0
        self.arrivals: list[tuple[bytes, float]] = []

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "verified": self.verified,
            "bad": self.bad,
            "unsigned": self.unsigned,
            "first": self.first,
            "last": self.last,
        }


class Connection(asyncio.Protocol):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.signature: bytes | None = None
        self.event_id: bytes | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop sets TCP_NODELAY

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []
        self.signature = None
        self.event_id = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered in _SIGNATURE_HEADERS:
            self.signature = value
        elif lowered == _EVENT_ID:
            self.event_id = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        assert transport is not None
        if self.url.startswith(b"/_"):
            transport.write(self._control())
        else:
            self._count()
            transport.write(_OK)
        if not self.parser.should_keep_alive():
            transport.close()

    def _count(self) -> None:
        stats = self.stats
        now = time.time()
        if not stats.count:
            stats.first = now
        stats.last = now
        stats.count += 1
        if stats.key is not None:
            signature = self.signature
            if signature is None:
                stats.unsigned += 1
            else:
                if signature.startswith(b"sha256="):
                    signature = signature[7:]
                body = b"".join(self.body)
                expected = hmac.new(stats.key, body, hashlib.sha256).hexdigest().encode()
                if hmac.compare_digest(expected, signature):
                    stats.verified += 1
                else:
                    stats.bad += 1
        if stats.record and self.event_id is not None:
            stats.arrivals.append((self.event_id, now))

    def _control(self) -> bytes:
        stats = self.stats
        path = self.url.split(b"?", 1)[0]
        payload: Any
        if path == b"/_stats":
            payload = stats.as_json()
        elif path == b"/_arrivals":
            payload = [[event_id.decode(), at] for event_id, at in stats.arrivals]
        elif path == b"/_reset":
            stats.reset()
            payload = {"reset": True}
        else:
            payload = {"detail": "unknown control route"}
        body = json.dumps(payload).encode()
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


async def serve(port: int, secret: str | None, record: bool, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats(secret, record)
    server = await loop.create_server(
        lambda: Connection(stats), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"port {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    parent = os.getppid()
    deadline = time.monotonic() + max_seconds
    while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret", default=None, help="verify HMAC-hex signatures with it")
    parser.add_argument("--record", action="store_true", help="keep event ids and arrivals")
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.secret, args.record, args.max_seconds))


if __name__ == "__main__":
    main()
