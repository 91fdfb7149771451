"""The seam for webhook HTTP I/O: one POST in, one :class:`Outcome` out.

:class:`Sender` is the interface the worker depends on. :class:`HttpSender` is the real one
(aiohttp, one pooled keep-alive connector per process); :class:`MockSender` answers from a
function, like httpx's ``MockTransport``, for tests that need no sockets.

``send`` never raises for anything the network or the receiver does; it reports it::

    Outcome
    ├── error_kind None             2xx response
    ├── error_kind "redirect"       3xx response (redirects are never followed)
    ├── error_kind "http"           any other non-2xx response (status set)
    └── no response (status None)
        ├── "timeout"               no response within the timeout
        ├── "dns"                   the host name does not resolve
        ├── "connect"               connection refused, unreachable, other socket errors
        ├── "tls"                   handshake or certificate failure
        ├── "reset"                 connection dropped, or an unreadable response
        └── "refused_target"        the SSRF guard refused the URL or a resolved address

The SSRF guard runs at connect time: :class:`HttpSender` resolves through a resolver that checks
every address against the :class:`~planwire.delivery.ssrf.TargetPolicy` before aiohttp may
connect to it, and checks literal IP hosts itself (aiohttp does not resolve those), so the
address checked is the address connected to.
"""

from __future__ import annotations

import abc
import asyncio
import email.utils
import errno
import inspect
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import ip_address
from types import TracebackType
from typing import Literal, Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from planwire.delivery.ssrf import TargetPolicy, TargetRefused, check_url

__all__ = [
    "DEFAULT_RESPONSE_BODY_LIMIT",
    "DEFAULT_TIMEOUT",
    "ErrorKind",
    "GuardedResolver",
    "HttpSender",
    "MockSender",
    "Outcome",
    "Sender",
    "SentRequest",
]

ErrorKind = Literal[
    "timeout", "connect", "dns", "tls", "refused_target", "reset", "redirect", "http"
]

DEFAULT_TIMEOUT = 30.0
#: Outcome.error is one line of at most this many characters (the receiver chooses the
#: reason phrase of its status line, so it is cut too).
_MAX_ERROR_LENGTH = 500
DEFAULT_RESPONSE_BODY_LIMIT = 64 * 1024
#: Retry-After values above this (one day) are read as this.
_RETRY_AFTER_CEILING = 86400.0
_READ_CHUNK = 16 * 1024
_URL_CHECK_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one attempt.

    ``status``: the response status, None when there was no response. ``body_excerpt``: the
    first bytes of the response body (up to the sender's limit) decoded as UTF-8 with
    replacement, NULs replaced (so it stores in any text column). ``error``: a one-line
    description for the delivery log, None on success. ``retry_after``: seconds from the
    ``Retry-After`` header of a 429 or 503 response, else None.
    """

    status: int | None
    body_excerpt: str
    error_kind: ErrorKind | None
    error: str | None
    duration_ms: float
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.error_kind is None

    @classmethod
    def for_status(
        cls,
        status: int,
        body_excerpt: str = "",
        *,
        duration_ms: float = 0.0,
        retry_after: float | None = None,
        reason: str = "",
    ) -> Outcome:
        """The outcome of a response with this status (classified as ``send`` does)."""
        if 200 <= status <= 299:
            return cls(status, body_excerpt, None, None, duration_ms, retry_after)
        kind: ErrorKind = "redirect" if 300 <= status <= 399 else "http"
        text = f"HTTP {status} {' '.join(reason.split())}".rstrip()[:_MAX_ERROR_LENGTH]
        if kind == "redirect":
            text += " (redirects are not followed)"
        return cls(status, body_excerpt, kind, text, duration_ms, retry_after)

    @classmethod
    def for_error(cls, kind: ErrorKind, error: str, *, duration_ms: float = 0.0) -> Outcome:
        """The outcome of an attempt that got no response."""
        return cls(None, "", kind, error, duration_ms, None)


class Sender(abc.ABC):
    """Sends one webhook POST and reports its :class:`Outcome`. Use as an async context
    manager, or call :meth:`aclose` when done."""

    @abc.abstractmethod
    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST ``body`` with ``headers`` to ``url``. Never raises for network problems."""

    async def aclose(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@dataclass(frozen=True, slots=True)
class SentRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass
class MockSender(Sender):
    """A :class:`Sender` that answers from ``handler`` and records every request.

    ``handler`` returns an :class:`Outcome` (or an awaitable of one), e.g.
    ``MockSender(lambda request: Outcome.for_status(200))``.
    """

    handler: Callable[[SentRequest], Outcome | Awaitable[Outcome]]
    requests: list[SentRequest] = field(default_factory=list)

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        request = SentRequest(url, body, dict(headers))
        self.requests.append(request)
        result = self.handler(request)
        if inspect.isawaitable(result):
            return await result
        return result


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses names resolving to addresses the policy refuses.

    Refusing (rather than dropping the bad addresses) keeps the rule simple to explain: a name
    with any internal address is not a webhook target.
    """

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._policy.check_address(ip_address(result["host"]), host)
        return results

    async def close(self) -> None:
        await self._inner.close()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), _RETRY_AFTER_CEILING)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return min(max((moment - datetime.now(UTC)).total_seconds(), 0.0), _RETRY_AFTER_CEILING)


def _excerpt(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", "replace").replace("\x00", "\ufffd")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        text = str(exc)  # its errno is OpenSSL's, not an OS error number
    elif isinstance(exc, OSError) and exc.errno is not None and exc.errno > 0:
        text = os.strerror(exc.errno)  # "Connection refused", not "[Errno 111] Connect call..."
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror  # resolver errors: "Name or service not known"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:_MAX_ERROR_LENGTH]  # one bounded line for the log


def _classify(exc: BaseException) -> tuple[ErrorKind, str]:
    if isinstance(exc, TargetRefused):
        return "refused_target", exc.reason
    if isinstance(exc, TimeoutError):
        return "timeout", "no response before the timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns", f"DNS lookup failed: {_describe(exc.os_error)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        detail = getattr(error, "verify_message", None) or _describe(error)
        return "tls", f"TLS certificate not accepted: {detail}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls", f"TLS handshake failed: {_describe(exc.os_error)}"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS failure: {_describe(exc)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "reset", f"connection dropped: {_describe(exc)}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "reset", f"unreadable response: {_describe(exc)}"
    if isinstance(exc, aiohttp.InvalidURL):
        return "refused_target", f"the URL is not valid: {_describe(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect", f"connection to {exc.host}:{exc.port} failed: {_describe(exc.os_error)}"
    if isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return "reset", f"connection reset: {_describe(exc)}"
    return "connect", f"connection failed: {_describe(exc)}"


class HttpSender(Sender):
    """The real sender: aiohttp with one keep-alive pool for the process.

    ``limit`` caps connections overall (the worker's concurrency), ``limit_per_host`` per
    endpoint. ``timeout`` bounds each attempt from the start of the request to the response
    headers (connecting, waiting for a pooled connection, sending, the receiver's processing);
    reading the excerpt gets what is left of it, and a response whose body is still arriving
    then keeps its status. At most ``response_body_limit`` bytes of the response are read; if
    more follow, the connection is closed rather than drained, so a huge response costs
    neither memory nor time. Redirects are never followed. ``ssl_context`` replaces the
    system's trust store (tests with their own CA). ``resolver`` replaces the system
    resolver (aiohttp's threaded ``getaddrinfo``) under the SSRF check: every address it
    returns is still checked against the policy (tests answer names without DNS traffic).

    The aiohttp session is created on first use, in the running event loop.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        limit: int = 256,
        limit_per_host: int = 32,
        response_body_limit: int = DEFAULT_RESPONSE_BODY_LIMIT,
        ssl_context: ssl.SSLContext | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._policy = policy
        self._timeout = timeout
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._body_limit = response_body_limit
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        #: Each URL sent to, checked and parsed once: the reason it is refused (the form check
        #: depends on the URL and the policy alone), or its parsed form, which aiohttp would
        #: otherwise parse again on every request. The worker sends to the same few URLs over
        #: and over.
        self._targets: dict[str, str | URL] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                resolver=GuardedResolver(self._policy, self._resolver),
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),  # our own, see send()
                auto_decompress=False,  # the excerpt limit must bound what we hold
                skip_auto_headers=("Accept-Encoding",),
                trust_env=False,  # no proxy from the environment: it would bypass the guard
                # No cookies: a receiver's Set-Cookie must not ride along on later deliveries
                # (other webhooks, maybe other tenants, on the same host); and no cookie work.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        started = time.monotonic()
        target = self._target(url)
        if isinstance(target, str):
            return Outcome.for_error(
                "refused_target", target, duration_ms=(time.monotonic() - started) * 1000
            )
        response: aiohttp.ClientResponse | None = None
        chunks: list[bytes] = []
        complete = False
        try:
            # One deadline for the attempt: the response headers must arrive within it, and
            # the excerpt is read in what is left of it.
            async with asyncio.timeout(self._timeout):
                response = await self._get_session().post(
                    target, data=body, headers=headers, allow_redirects=False
                )
                complete = await self._read_excerpt(response, chunks)
        except (aiohttp.ClientError, OSError, TimeoutError, TargetRefused) as exc:
            if response is None:
                kind, message = _classify(exc)
                return Outcome.for_error(
                    kind, message, duration_ms=(time.monotonic() - started) * 1000
                )
            # The body broke off or ran out of time: the status is what counts; keep what
            # was read.
        finally:
            if response is not None:
                if complete:
                    response.release()
                else:
                    response.close()  # drop the connection instead of draining the rest

        retry_after = None
        if response.status in (429, 503):
            retry_after = _retry_after(response.headers.get("Retry-After"))
        return Outcome.for_status(
            response.status,
            _excerpt(chunks),
            duration_ms=(time.monotonic() - started) * 1000,
            retry_after=retry_after,
            reason=response.reason or "",
        )

    def _target(self, url: str) -> str | URL:
        """The parsed URL, or why it is refused."""
        try:
            return self._targets[url]
        except KeyError:
            pass
        target: str | URL
        try:
            check_url(url, self._policy, resolve=False)
            target = URL(url)
        except TargetRefused as exc:
            target = exc.reason
        if len(self._targets) >= _URL_CHECK_CACHE_SIZE:
            self._targets.clear()
        self._targets[url] = target
        return target

    async def _read_excerpt(self, response: aiohttp.ClientResponse, chunks: list[bytes]) -> bool:
        """Read up to the limit into ``chunks``; True when the whole body was read."""
        remaining = self._body_limit
        while remaining > 0:
            chunk = await response.content.read(min(_READ_CHUNK, remaining))
            if not chunk:
                return True
            chunks.append(chunk)
            remaining -= len(chunk)
            if response.content.at_eof():  # saves a read that would only return b""
                return True
        return response.content.at_eof()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
