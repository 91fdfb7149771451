"""Fixtures of the developer-experience tests: an app that runs the delivery worker, and
subprocesses (``planwire listen``, the receiver examples) whose output lines tests wait for."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy import Engine

from planwire.app import create_app
from planwire.config import Settings
from tests.conftest import Actor

T = TypeVar("T")
ROOT = Path(__file__).parents[2]
WAIT = 30.0


def worker_app(settings: Settings, engine: Engine) -> FastAPI:
    """The app with its delivery worker, as ``planwire serve`` runs it (fast polling)."""
    settings = settings.model_copy(update={"delivery_timeout": 5.0, "lease_seconds": 10.0})
    return create_app(
        settings,
        engine,
        run_worker=True,
        worker_options={"poll_interval": 0.2, "maintenance_interval": 3600.0},
    )


class Spawned:
    """A subprocess whose stdout lines are collected by a thread; stopped (SIGINT, then
    SIGKILL) when the ``with`` block ends, so no test leaves one behind."""

    def __init__(
        self, args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.args = list(args)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "COLUMNS": "250", "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=cwd,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, check: Callable[[str], bool], timeout: float = WAIT, what: str = "") -> str:
        """The first line (seen so far or arriving within ``timeout``) that passes ``check``."""
        for line in self.lines:
            if check(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(
                    f"{self.args[0]} exited ({self.process.wait()}) before {what or 'the line'}:"
                    "\n" + "\n".join(self.lines)
                )
            self.lines.append(line)
            if check(line):
                return line
        raise AssertionError(
            f"waited {timeout} s for {what or 'a line'}:\n" + "\n".join(self.lines)
        )

    def wait_for_count(
        self, check: Callable[[str], bool], count: int, timeout: float = WAIT, what: str = ""
    ) -> list[str]:
        """Wait until ``count`` lines pass ``check``; returns them."""
        found: list[str] = []

        def enough(line: str) -> bool:
            if check(line):
                found.append(line)
            return len(found) >= count

        for line in list(self.lines):
            if enough(line):
                return found
        seen = len(self.lines)
        self.lines, earlier = [], self.lines
        try:
            self.wait_for(enough, timeout, what or f"{count} lines")
        finally:
            self.lines = earlier[:seen] + self.lines
        return found

    def json_lines(self) -> list[dict[str, Any]]:
        result = []
        for line in self.lines:
            if line.startswith("{"):
                try:
                    result.append(json.loads(line))
                except ValueError:
                    continue
        return result

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        while True:  # keep what arrived after the last wait
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return self.process.returncode

    def __enter__(self) -> Spawned:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self.process.stdout is not None:
            self.process.stdout.close()


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


def planwire_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from planwire.cli import app; app()", *args]


def account_webhook(actor: Actor, url: str, secret: str, **fields: Any) -> dict[str, Any]:
    response = actor.post(
        "/api/v1/webhooks", json={"name": "devx", "url": url, "secret": secret, **fields}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def project_webhook(
    actor: Actor, project_id: str, url: str, secret: str, **fields: Any
) -> dict[str, Any]:
    response = actor.post(
        f"/api/v1/projects/{project_id}/webhooks/", json={"url": url, "secret": secret, **fields}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
