"""A real PostgreSQL server for the test session (pytest plugin).

Fixtures:
- ``postgres_server_url`` (session): SQLAlchemy URL
  ``postgresql+psycopg://postgres@127.0.0.1:<port>/postgres`` of a real server. With
  ``PLANWIRE_TEST_POSTGRES_URL`` set, that server is used as it is; otherwise a throwaway
  server is started in a temporary directory on 127.0.0.1 and a free port, and stopped and
  removed at the end of the session (also when tests fail or the run is interrupted).
- ``postgres_database_url`` (function): URL of a new, empty database on that server, dropped
  after the test.

Helpers: ``create_database(server_url, name)`` and ``drop_database(server_url, name)``.

Without PostgreSQL binaries, tests that need the server are skipped outside CI and fail in CI
(``CI`` set). Tests using these fixtures get the ``postgres`` marker, so ``-m "not postgres"``
deselects them.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

ENV_URL = "PLANWIRE_TEST_POSTGRES_URL"
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 30
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
}
#: Faster and not crash-safe: for the tests, whose servers are thrown away. Benchmarks keep
#: PostgreSQL's defaults, what a deployment runs (every commit waits for its WAL on disk).
NOT_DURABLE_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_postgres_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: PATH first, then Debian's layout."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda d: _version_key(Path(d).parent.name), reverse=True)
    candidates.extend(Path(d) for d in versioned)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def sqlalchemy_url(url: str) -> str:
    """Normalise ``postgres://`` / ``postgresql://`` URLs to the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _conninfo(url: str) -> str:
    parsed = make_url(url)
    return psycopg.conninfo.make_conninfo(
        host=parsed.host or "",
        port=str(parsed.port or ""),
        user=parsed.username or "",
        password=parsed.password or "",
        dbname=parsed.database or "",
    )


def wait_until_accepting(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    conninfo = _conninfo(url)
    while True:
        try:
            with psycopg.connect(conninfo, connect_timeout=2) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"PostgreSQL at {make_url(url).render_as_string()} did not accept "
                    f"connections within {timeout_s}s: {exc}"
                ) from exc
            time.sleep(0.1)


def _admin_engine(server_url: str) -> Engine:
    return create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def create_database(server_url: str, name: str) -> str:
    """Create an empty database ``name`` on the server; return its SQLAlchemy URL."""
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"database name must match {_DATABASE_NAME.pattern}: {name!r}")
    engine = _admin_engine(server_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    database_url: URL = make_url(server_url).set(database=name)
    return database_url.render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting any session still using it."""
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"database name must match {_DATABASE_NAME.pattern}: {name!r}")
    engine = _admin_engine(server_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class TemporaryPostgres:
    """A PostgreSQL server in a temporary directory, run as the ``postgres`` user under root.

    ``durable``: PostgreSQL's own durability settings; without it, those of
    :data:`NOT_DURABLE_SETTINGS`."""

    bin_dir: Path
    durable: bool = False
    root: Path = field(init=False)
    port: int = field(init=False, default=0)
    running: bool = field(init=False, default=False)
    startup_seconds: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.as_root = os.geteuid() == 0
        # /tmp, not $TMPDIR: the postgres user must be able to reach the directory.
        parent = "/tmp" if self.as_root else None
        self.root = Path(tempfile.mkdtemp(prefix="planwire-pg-", dir=parent))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log_file = self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if self.as_root:
            runuser = shutil.which("runuser")
            if runuser:
                command = [runuser, "-u", SYSTEM_USER, "--", *command]
            else:
                command = ["su", SYSTEM_USER, "-s", "/bin/sh", "-c", shlex.join(command)]
        return subprocess.run(
            command,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed with exit code {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"server log (tail):\n{self._log_tail()}"
            )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> None:
        started = time.monotonic()
        self.socket_dir.mkdir()
        if self.as_root:
            shutil.chown(self.root, user=SYSTEM_USER, group=None)
            shutil.chown(self.socket_dir, user=SYSTEM_USER, group=None)
        initdb = self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
            timeout_s=120,
        )
        self._check(initdb, "initdb")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# planwire test server\n")
            conf.write(f"unix_socket_directories = '{self.socket_dir}'\n")
            settings = SERVER_SETTINGS if self.durable else SERVER_SETTINGS | NOT_DURABLE_SETTINGS
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")
        last_error: RuntimeError | None = None
        for _attempt in range(3):  # another process may take the free port before we bind it
            self.port = _free_port()
            result = self._run(
                str(self.bin_dir / "pg_ctl"),
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_file),
                "--options",
                f"-p {self.port}",
                "--wait",
                "--timeout",
                str(START_TIMEOUT_S),
                "start",
                timeout_s=START_TIMEOUT_S + 30,
            )
            try:
                self._check(result, "pg_ctl start")
            except RuntimeError as exc:
                last_error = exc
                continue
            self.running = True
            wait_until_accepting(self.url)
            self.startup_seconds = time.monotonic() - started
            return
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop the server (if a postmaster may be up, even half-started) and remove its files."""
        try:
            if self.running or (self.data_dir / "postmaster.pid").exists():
                self.running = False
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "--pgdata",
                    str(self.data_dir),
                    "--mode",
                    "immediate",
                    "--wait",
                    "stop",
                    timeout_s=60,
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """SQLAlchemy URL of a real PostgreSQL server, as the ``postgres`` superuser."""
    external = os.environ.get(ENV_URL, "").strip()
    if external:
        url = sqlalchemy_url(external)
        wait_until_accepting(url)
        yield url
        return
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        _unavailable(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH nor in "
            f"/usr/lib/postgresql/*/bin; install PostgreSQL (bash .ci/run does) or set {ENV_URL}"
        )
    assert bin_dir is not None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            pytest.fail(
                f"running as root but there is no '{SYSTEM_USER}' system user to run "
                "PostgreSQL as (Debian's postgresql package creates it)",
                pytrace=False,
            )
    server = TemporaryPostgres(bin_dir)
    atexit.register(server.stop)  # also on an interrupted session
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture
def postgres_database_url(postgres_server_url: str) -> Iterator[str]:
    """URL of a new, empty database for one test; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = create_database(postgres_server_url, name)
    try:
        yield url
    finally:
        drop_database(postgres_server_url, name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL test server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
