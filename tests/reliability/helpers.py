"""Helpers shared by the reliability tests (registration through the API, resolvers at the edge,
bounded waits, child processes)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from planwire.config import Settings
from tests.conftest import Actor
from tests.delivery.test_sender import Certificate

T = TypeVar("T")

WAIT = 20.0
PLANWIRE = str(Path(sys.executable).with_name("planwire"))


def project_hooks(project_id: str, *rest: str) -> str:
    return "/".join([f"/api/v1/projects/{project_id}/webhooks", *rest]) + "/"


def account_hooks(*rest: str) -> str:
    return "/".join(["/api/v1/webhooks", *rest]) + "/"


def register_project_hook(
    actor: Actor | TestClient,
    project_id: str,
    url: str,
    *,
    auth: Mapping[str, str] | None = None,
    **fields: Any,
) -> Any:
    """POST a project webhook; returns the response (the caller checks its status). Through
    another client than the actor's, ``auth`` are the actor's headers."""
    body = {"url": url, "secret": "project-hook-secret", **fields}
    if isinstance(actor, Actor):
        return actor.post(project_hooks(project_id), json=body)
    return actor.post(project_hooks(project_id), json=body, headers=dict(auth or {}))


def register_account_hook(
    actor: Actor | TestClient,
    url: str,
    *,
    auth: Mapping[str, str] | None = None,
    **fields: Any,
) -> Any:
    body = {"name": "hook", "url": url, "secret": "account-hook-secret", **fields}
    if isinstance(actor, Actor):
        return actor.post(account_hooks(), json=body)
    return actor.post(account_hooks(), json=body, headers=dict(auth or {}))


def strict(settings: Settings, **changes: Any) -> Settings:
    """The settings with the default SSRF policy: no private targets."""
    return settings.model_copy(update={"allow_private_targets": False, **changes})


class StaticResolver(AbstractResolver):
    """A resolver at the edge: names from a table (changeable, for DNS rebinding), every other
    name unknown. Nothing is sent anywhere."""

    def __init__(self, table: Mapping[str, str] | None = None) -> None:
        self.table: dict[str, str] = dict(table or {})
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        address = self.table.get(host)
        if address is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        ip = ipaddress.ip_address(address)
        return [
            ResolveResult(
                hostname=host,
                host=str(ip),
                port=port,
                family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


def wait_until(check: Callable[[], T | None], within: float = WAIT, what: str = "it") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {within} s for {what} in vain")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of a ``planwire`` child process: this one's minus any PLANWIRE_*
    variable, plus ``settings`` (names without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANWIRE_")}
    env.update({f"PLANWIRE_{name.upper()}": value for name, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def planwire_process(
    args: list[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``planwire <args>`` with its output in ``log``; on leaving, SIGTERM then (after a
    bounded wait) SIGKILL it, unless it already exited."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [PLANWIRE, *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen[bytes], within: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""

    def accepting() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(accepting, within, f"a server on port {port}")


def self_signed_certificate() -> Certificate:
    """A self-signed certificate for 127.0.0.1, trusted by nobody (unless asked to)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
