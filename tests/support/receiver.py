"""A real HTTP webhook receiver for tests: loopback only, ephemeral port, stops by itself.

It runs an HTTP/1.1 server (keep-alive, ``http.server`` underneath) in a background thread on
``127.0.0.1``, records every request and answers as programmed::

    from tests.support.receiver import Receiver, Reply

    with Receiver() as rx:                               # or the ``receiver`` fixture below
        rx.program("/slow", Reply(status=200, delay=5))  # every request to /slow
        rx.enqueue("/hook", Reply(status=500), Reply(status=200))  # next two, then the default
        ... send to rx.url("/hook") ...
        first, second = rx.wait_for(2, timeout=10)       # blocks until two requests arrived
        assert second.headers["X-Planwire-Delivery"] == first.headers["X-Planwire-Delivery"]
        assert second.body == b"..."

What a :class:`Reply` can do (``Reply(...)`` fields, or the named constructors):

* ``status``, ``body``, ``headers``: an ordinary response (default ``200 OK``, body ``OK``);
* ``delay``: wait that many seconds before answering;
* ``Reply.hang()``: never answer (until the client disconnects or the receiver stops);
* ``Reply.reset()``: read the request, then reset the connection (TCP RST, no response);
* ``Reply.huge(size)``: a ``200`` whose body is ``size`` bytes (50 MB by default) streamed in
  chunks, so the receiver itself holds no more than a chunk;
* ``Reply.redirect(location, status=302)`` and ``Reply.retry_after(value, status=429)``.

Which reply a request gets: the next queued one for its path (:meth:`Receiver.enqueue`), else
the path's programmed one (:meth:`Receiver.program`), else the receiver's ``default``.

Each :class:`RecordedRequest` has ``method``, ``path``, ``headers`` (an ``email.message``
mapping: case-insensitive), ``body`` (the raw bytes), ``received_at`` (``time.time()``),
``client_port`` (same port = same kept-alive connection), and ``bytes_sent`` / ``finished``
describing the response. ``max_in_flight`` is the largest number of requests handled at once.

:class:`NodeReceiver` runs ``node_receiver.js`` (a receiver that verifies as the webhook
documents' JavaScript examples do) and :class:`JsRoundtrip` asks one Node process for
``JSON.stringify(JSON.parse(body))``; both stop their process when closed.

``ssl_context`` (a server-side :class:`ssl.SSLContext`) makes it an HTTPS receiver; handshake
failures are counted in ``tls_failures``. Leaving the ``with`` block (or the fixture) stops the
server, wakes every waiting handler and joins every thread.
"""

from __future__ import annotations

import base64
import contextlib
import json
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pytest

__all__ = ["JsRoundtrip", "NodeReceiver", "Receiver", "RecordedRequest", "Reply", "receiver"]

_CHUNK = 64 * 1024
_POLL = 0.05


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"OK"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: Literal["respond", "hang", "reset", "huge"] = "respond"
    size: int = 0

    @classmethod
    def hang(cls) -> Reply:
        return cls(action="hang")

    @classmethod
    def reset(cls) -> Reply:
        return cls(action="reset")

    @classmethod
    def huge(cls, size: int = 50 * 1024 * 1024, status: int = 200) -> Reply:
        return cls(status=status, action="huge", size=size)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, body=b"", headers={"Location": location})

    @classmethod
    def retry_after(cls, value: str | int, status: int = 429) -> Reply:
        return cls(status=status, body=b"slow down", headers={"Retry-After": str(value)})


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Message
    body: bytes
    received_at: float
    client_port: int
    bytes_sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined on close: nothing outlives the receiver
    block_on_close = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops connections under a burst (hundreds of
    # concurrent deliveries): the client's SYN is retried after 1 s and may hit its timeout.
    request_queue_size = 1024

    def __init__(self, receiver: Receiver, ssl_context: ssl.SSLContext | None) -> None:
        self.receiver = receiver
        self.ssl_context = ssl_context
        self.to_reset: set[int] = set()  # file descriptors to close with a RST
        super().__init__(("127.0.0.1", 0), _Handler)

    def shutdown_request(self, request: Any) -> None:
        if request.fileno() in self.to_reset:
            self.to_reset.discard(request.fileno())
            self.close_request(request)  # no shutdown(SHUT_WR) first: that would send a FIN
            return
        super().shutdown_request(request)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that go away mid-request are normal here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # a backstop for a client that stalls mid-request
    error_message_format = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        # Headers and body are written separately: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every kept-alive response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ssl.SSLError):
                self.server.receiver._count_tls_failure()
                self.close_connection = True
                raise

    def handle(self) -> None:
        """Serve requests on this connection until it closes or the receiver stops."""
        self.close_connection = False
        receiver = self.server.receiver
        while not self.close_connection and not receiver._stopping.is_set():
            if not self._wait_readable():
                return
            self.handle_one_request()

    def _wait_readable(self) -> bool:
        receiver = self.server.receiver
        conn = self.connection
        while not receiver._stopping.is_set():
            if isinstance(conn, ssl.SSLSocket) and conn.pending():
                return True
            readable, _, _ = select.select([conn], [], [], _POLL)
            if readable:
                return True
        return False

    def _client_gone(self) -> bool:
        if isinstance(self.connection, ssl.SSLSocket):
            return False  # cannot peek through TLS; such waits end at their time or on stop
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return True
        return peeked == b""

    def _pause(self, seconds: float | None) -> None:
        """Wait ``seconds`` (None: forever), cut short by the receiver stopping or the client
        disconnecting."""
        receiver = self.server.receiver
        end = None if seconds is None else time.monotonic() + seconds
        while not receiver._stopping.is_set() and not self._client_gone():
            left = _POLL if end is None else min(_POLL, end - time.monotonic())
            if left <= 0:
                return
            receiver._stopping.wait(left)

    def _any(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=self.headers,
            body=body,
            received_at=time.time(),
            client_port=self.client_address[1],
        )
        reply = receiver._take_reply(self.path.split("?", 1)[0], record)
        try:
            self._answer(reply, record)
        except OSError:
            self.close_connection = True
        finally:
            record.finished.set()
            receiver._leave()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    def _answer(self, reply: Reply, record: RecordedRequest) -> None:
        if reply.delay:
            self._pause(reply.delay)
        if reply.action == "hang":
            self._pause(None)
            self.close_connection = True
            return
        if reply.action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.to_reset.add(self.connection.fileno())
            self.close_connection = True
            return
        size = reply.size if reply.action == "huge" else len(reply.body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if reply.action == "huge":
            chunk = b"x" * _CHUNK
            sent = 0
            while sent < size and not self.server.receiver._stopping.is_set():
                piece = chunk[: min(_CHUNK, size - sent)]
                self.wfile.write(piece)
                sent += len(piece)
                record.bytes_sent = sent
        else:
            self.wfile.write(reply.body)
            record.bytes_sent = len(reply.body)
        self.wfile.flush()


class Receiver:
    """See the module docstring."""

    def __init__(
        self, *, default: Reply | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.default = default or Reply()
        self.requests: list[RecordedRequest] = []
        self.tls_failures = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._programs: dict[str, Reply] = {}
        self._queues: dict[str, deque[Reply]] = {}
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._server = _Server(self, ssl_context)
        self._scheme = "https" if ssl_context is not None else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": _POLL}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}{path}"

    def program(self, path: str, reply: Reply) -> None:
        """Answer every request to ``path`` with ``reply`` (after any queued replies)."""
        with self._lock:
            self._programs[path] = reply

    def enqueue(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with these replies, in order."""
        with self._lock:
            self._queues.setdefault(path, deque()).extend(replies)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """The first ``count`` requests, waiting up to ``timeout`` seconds for them to arrive;
        ``TimeoutError`` if they do not."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} requests arrived")
            return self.requests[:count]

    def _take_reply(self, path: str, record: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(record)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._lock.notify_all()
            queue = self._queues.get(path)
            if queue:
                return queue.popleft()
            return self._programs.get(path, self.default)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _count_tls_failure(self) -> None:
        with self._lock:
            self.tls_failures += 1

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads, which all poll _stopping
        self._thread.join()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running :class:`Receiver`; import this name into a conftest.py to use it."""
    with Receiver() as rx:
        yield rx


NODE = "/usr/bin/node"
NODE_RECEIVER_JS = Path(__file__).with_name("node_receiver.js")


class NodeReceiver:
    """``node_receiver.js`` in server mode (see that file): a receiver that verifies as the
    webhook documents' JavaScript examples do. ``url(path)``; ``results`` collects its JSON
    lines (``wait_for(count)`` waits for them). Stopped (stdin closed, process reaped) on
    leaving the ``with`` block."""

    def __init__(self, secret: str) -> None:
        self._process = subprocess.Popen(
            [NODE, str(NODE_RECEIVER_JS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={"WEBHOOK_SECRET": secret, "PATH": "/usr/bin:/bin"},
        )
        assert self._process.stdout is not None
        first = self._process.stdout.readline()
        if not first:
            self.close()
            raise RuntimeError("node_receiver.js exited before listening")
        self.port = int(json.loads(first)["port"])
        self.results: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._arrived:
                self.results.append(json.loads(line))
                self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` results; ``TimeoutError`` if they do not come in time."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.results) >= count, timeout):
                raise TimeoutError(f"{len(self.results)} of {count} results arrived")
            return self.results[:count]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        _stop_node(self._process)
        if hasattr(self, "_reader"):
            self._reader.join(timeout=5)

    def __enter__(self) -> NodeReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class JsRoundtrip:
    """One ``node_receiver.js --roundtrip`` process: ``stringify_parse(body)`` returns the bytes
    of JavaScript's ``JSON.stringify(JSON.parse(body))``, one pipe round trip per call."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [NODE, str(NODE_RECEIVER_JS), "--roundtrip"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin"},
        )

    def stringify_parse(self, body: bytes) -> bytes:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(base64.b64encode(body) + b"\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline().strip()
        if line.startswith(b"!"):
            raise ValueError(f"JavaScript refused the JSON: {line[1:].decode()}")
        if not line:
            raise RuntimeError("node_receiver.js --roundtrip exited")
        return base64.b64decode(line)

    def close(self) -> None:
        _stop_node(self._process)

    def __enter__(self) -> JsRoundtrip:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _stop_node(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
