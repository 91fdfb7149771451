"""``planwire listen``: a local webhook receiver for developers (like ``stripe listen``).

It serves ``http://127.0.0.1:PORT/`` (any path), verifies each delivery with
:mod:`planwire.verify` for its format (given, or recognised by its signature header), prints
the event, the delivery id (``X-Planwire-Delivery``), the attempt and the body, and answers
``200`` (or the ``--status`` you chose, to watch Planwire retry). A delivery whose signature
does not verify gets a red line and ``401``.

:class:`Listener` is the reusable part (``planwire demo`` runs one in-process); it takes a
callback for each delivery and runs on the caller's event loop.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from rich.console import Console
from rich.json import JSON
from rich.markup import escape

from planwire.verify import verify_exepron, verify_standard, verify_trueppm

__all__ = ["FORMATS", "Listener", "Received", "detect_format", "print_received", "verify_delivery"]

FORMATS = ("trueppm", "exepron", "standard")
MAX_BODY = 10 * 1024 * 1024


def detect_format(headers: Mapping[str, str]) -> str | None:
    """The wire format a request's signature header belongs to, or None."""
    lowered = {name.lower() for name in headers}
    if "webhook-signature" in lowered:
        return "standard"
    if "x-exepron-signature" in lowered:
        return "exepron"
    if "x-trueppm-signature" in lowered:
        return "trueppm"
    return None


@dataclass
class Received:
    """One request to the listener and what it made of it."""

    received_at: datetime
    path: str
    format: str | None
    verified: bool
    reason: str | None
    event: str | None
    delivery_id: str | None
    #: Attempt number from the body (Exepron's ``metadata.retryCount`` + 1), if it says.
    attempt: int | None
    #: How many times this delivery id has arrived here (a retry or a redelivery is > 1).
    arrival: int
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""


def verify_delivery(
    secrets: Sequence[str], fmt: str | None, headers: Mapping[str, str], body: bytes
) -> tuple[str | None, bool, str | None]:
    """``(format, verified, reason)`` for a request: ``fmt`` None recognises the format."""
    detected = detect_format(headers)
    chosen = fmt or detected
    if chosen is None:
        return None, False, "no signature header (X-TruePPM-Signature, X-Exepron-Signature or "
        "webhook-signature)"
    if fmt is not None and detected is not None and detected != fmt:
        return chosen, False, f"a {detected} delivery, but this listener expects {fmt}"
    if chosen == "trueppm":
        signature = _header(headers, "X-TruePPM-Signature")
        ok = any(verify_trueppm(secret, body, signature) for secret in secrets)
    elif chosen == "exepron":
        signature = _header(headers, "X-Exepron-Signature")
        ok = any(verify_exepron(secret, body, signature) for secret in secrets)
    else:
        ok = any(verify_standard(secret, body, headers) for secret in secrets)
    if ok:
        return chosen, True, None
    missing = chosen == "standard" and not _header(headers, "webhook-signature")
    reason = "signature header missing" if missing else "signature does not match the secret"
    if chosen == "standard" and not missing:
        reason += " (or webhook-timestamp is more than 5 minutes away from this clock)"
    return chosen, False, reason


class Listener:
    """An aiohttp receiver on ``host:port`` (port 0: any free port) that verifies deliveries."""

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        format: str | None = None,
        status: int = 200,
        host: str = "127.0.0.1",
        port: int = 0,
        on_delivery: Callable[[Received], None] | None = None,
    ) -> None:
        if format is not None and format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        self.secrets = list(secrets)
        self.format = format
        self.status = status
        self.host = host
        self.port = port
        self.on_delivery = on_delivery
        self.received: list[Received] = []
        self._arrivals: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            await self._runner.cleanup()
            raise
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        received = self.receive(request.method, request.path, headers, body)
        answer: dict[str, Any] = {"verified": received.verified, "event": received.event}
        if received.reason:
            answer["error"] = received.reason
        return web.json_response(answer, status=received.status)

    def receive(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Received:
        """Verify one request and record it (the aiohttp handler's logic, without sockets)."""
        fmt: str | None
        reason: str | None
        if method != "POST":
            fmt, verified, reason = None, False, f"{method} is not a delivery (Planwire POSTs)"
        else:
            fmt, verified, reason = verify_delivery(self.secrets, self.format, headers, body)
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        delivery_id = _header(headers, "X-Planwire-Delivery") or None
        if delivery_id and verified:
            self._arrivals[delivery_id] += 1
        event = _header(headers, "X-Planwire-Event") or None
        if isinstance(parsed, dict):
            event = event or parsed.get("event") or parsed.get("type")
        received = Received(
            received_at=datetime.now(UTC),
            path=path,
            format=fmt,
            verified=verified,
            reason=reason,
            event=event,
            delivery_id=delivery_id,
            attempt=_attempt(parsed),
            arrival=self._arrivals[delivery_id] if delivery_id else 1,
            status=self.status if verified else 401,
            body=parsed,
            headers=headers,
        )
        self.received.append(received)
        if self.on_delivery is not None:
            self.on_delivery(received)
        return received


def _attempt(body: Any) -> int | None:
    if isinstance(body, dict):
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("retryCount"), int):
            return int(metadata["retryCount"]) + 1
    return None


def print_received(console: Console, received: Received, *, show_body: bool = True) -> None:
    """One delivery as ``planwire listen`` prints it: a status line, then the body."""
    clock = received.received_at.astimezone().strftime("%H:%M:%S")
    if not received.verified:
        console.print(
            f"[bold red]✗ {clock}  {escape(received.event or '?')}  {received.path}  "
            f"{escape(received.reason or 'rejected')}  → {received.status}[/]",
            highlight=False,
        )
        return
    attempt = f"attempt {received.attempt}" if received.attempt else ""
    if received.arrival > 1:
        attempt = (attempt + " " if attempt else "") + f"(arrival {received.arrival}: a retry)"
    colour = "green" if 200 <= received.status < 300 else "yellow"
    console.print(
        f"[bold {colour}]✓ {clock}[/]  [bold]{escape(received.event or '?')}[/]  "
        f"[dim]{received.format}  delivery {received.delivery_id or '-'}[/]  {attempt}  "
        f"→ {received.status}",
        highlight=False,
    )
    if show_body and received.body is not None:
        if isinstance(received.body, str):
            console.print(escape(received.body))
        else:
            console.print(JSON.from_data(received.body, indent=2))
