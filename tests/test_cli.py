"""The ``planwire`` command, run as a real subprocess on a temporary SQLite database."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from planwire.app import create_app
from planwire.config import Settings

PLANWIRE = str(Path(sys.executable).with_name("planwire"))
TOKEN = re.compile(r"pw_[A-Za-z0-9_-]{20,}")
START_TIMEOUT_S = 60


def environment(database: Path, **settings: str) -> dict[str, str]:
    """The environment without any PLANWIRE_ setting of the caller, nor unbuffered output (the
    token must reach a pipe while the server runs, as it would reach a log collector)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PLANWIRE_") and k != "PYTHONUNBUFFERED"
    }
    env["PLANWIRE_DATABASE_URL"] = f"sqlite:///{database}"
    env.update({f"PLANWIRE_{key.upper()}": value for key, value in settings.items()})
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PLANWIRE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "planwire.db"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``planwire serve`` in the background, its stdout collected as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [PLANWIRE, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr and self.process.stderr.read()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"planwire serve did not answer /health: {self.output}")

    def wait_for_output(self, pattern: re.Pattern[str]) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            match = pattern.search(self.output)
            if match:
                return match.group(0)
            time.sleep(0.05)
        raise AssertionError(f"no {pattern.pattern!r} in the output: {self.output!r}")

    def close(self) -> None:
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop it as a service manager would, and check it shut down gracefully (uvicorn
        re-raises the signal after its shutdown, hence -SIGTERM rather than 0)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.reader.join(timeout=10)
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        self.close()
        assert code in (0, -signal.SIGTERM), stderr
        assert "Traceback" not in stderr, stderr


@pytest.fixture
def serve(database: Path) -> Iterator[type[Server]]:
    started: list[Server] = []

    class Started(Server):
        def __init__(self) -> None:
            super().__init__(environment(database))
            started.append(self)

    yield Started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)
        server.reader.join(timeout=10)
        server.close()


def test_first_serve_prints_a_working_token_once(serve: type[Server]) -> None:
    first = serve()
    first.wait_until_up()
    # Printed (and flushed) while the server runs, not at exit.
    token = first.wait_for_output(TOKEN)
    me = httpx.get(f"{first.url}/api/v1/users/me/", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["is_org_admin"] is True
    assert httpx.get(f"{first.url}/api/v1/users/me/").status_code == 401
    first.stop()
    assert "shown once" in first.output

    second = serve()
    second.wait_until_up()
    second.wait_for_output(re.compile(r"Planwire \S+ on http://"))
    me = httpx.get(f"{second.url}/api/v1/users/me/", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200  # the same database, the same token
    second.stop()
    assert not TOKEN.search(second.output)


def test_user_create_token_create_and_db_upgrade(database: Path) -> None:
    env = environment(database)
    upgraded = run(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "up to date" in upgraded.stdout
    again = run(env, "db", "upgrade")
    assert again.returncode == 0, again.stderr

    created = run(
        env,
        "user",
        "create",
        "--email",
        "Ada@Example.com",
        "--admin",
        "--password",
        "correct horse",
    )
    assert created.returncode == 0, created.stderr
    assert "ada@example.com" in created.stdout

    duplicate = run(env, "user", "create", "--email", "ada@example.com")
    assert duplicate.returncode != 0
    assert one_error_line(duplicate.stderr).count("ada@example.com") == 1

    issued = run(env, "token", "create", "--email", "ada@example.com", "--name", "ci")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert TOKEN.fullmatch(token), issued.stdout  # stdout is the token alone, for scripts

    missing = run(env, "token", "create", "--email", "nobody@example.com")
    assert missing.returncode != 0
    assert "nobody@example.com" in one_error_line(missing.stderr)

    app = create_app(Settings(database_url=f"sqlite:///{database}", secret_key=None))
    with TestClient(app) as client:
        me = client.get("/api/v1/users/me/", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "ada@example.com" and me.json()["is_org_admin"] is True
        tokens = client.get("/api/v1/tokens/", headers={"Authorization": f"Bearer {token}"})
        assert [t["name"] for t in tokens.json()["results"]] == ["ci"]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def bad_settings(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    """Settings -> what the error line must name."""
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    return {
        "timeout not a number": ({"delivery_timeout": "abc"}, "PLANWIRE_DELIVERY_TIMEOUT"),
        "concurrency out of range": ({"worker_concurrency": "0"}, "PLANWIRE_WORKER_CONCURRENCY"),
        "unknown database scheme": (
            {"database_url": "mysql://db/planwire"},
            "PLANWIRE_DATABASE_URL",
        ),
        "bad network list": (
            {"allowed_target_networks": '["a-network-name-long-enough-to-wrap-an-80-column-line"]'},
            "PLANWIRE_ALLOWED_TARGET_NETWORKS",
        ),
        "unreachable database": (
            {
                "database_url": "postgresql://planwire:hunter2@127.0.0.1:1/planwire",
                "secret_key": "A" * 43 + "=",
            },
            "cannot open the database",
        ),
        "database where a file is": (
            {"database_url": f"sqlite:///{not_a_directory}/planwire.db"},
            "a-file",
        ),
    }


SERVE_CASES = [
    "timeout not a number",
    "concurrency out of range",
    "unknown database scheme",
    "bad network list",
    "unreachable database",
    "database where a file is",
]
COMMANDS = {
    "db upgrade": ["db", "upgrade"],
    "user create": ["user", "create", "--email", "a@example.com"],
    "token create": ["token", "create", "--email", "a@example.com"],
}


@pytest.mark.parametrize(
    ("command", "case"),
    [("serve", case) for case in SERVE_CASES]
    + [(command, "unreachable database") for command in COMMANDS]
    + [("db upgrade", "timeout not a number"), ("db upgrade", "database where a file is")],
)
def test_a_bad_setting_stops_with_one_clear_line(
    tmp_path: Path, database: Path, command: str, case: str
) -> None:
    settings, named = bad_settings(tmp_path)[case]
    args = ["serve", "--port", str(free_port())] if command == "serve" else COMMANDS[command]
    result = run(environment(database, **settings), *args)
    assert result.returncode != 0
    line = one_error_line(result.stderr)
    assert named in line
    assert "hunter2" not in result.stderr + result.stdout  # passwords are not printed
    assert not database.exists()
