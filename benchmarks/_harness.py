"""What the delivery and API benchmarks share: the receiver process, a throwaway PostgreSQL,
seeded databases, ``planwire worker`` processes, percentiles, the machine and the table.

Everything runs on 127.0.0.1 and every process started here is stopped by the context
managers that started it (and the receiver stops by itself if its parent dies).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
PYTHON = sys.executable
PLANWIRE = str(Path(sys.executable).with_name("planwire"))
if str(ROOT) not in sys.path:  # tests.support.postgres: the throwaway server of the tests
    sys.path.insert(0, str(ROOT))

SECRET = "benchmark-signing-secret"  # noqa: S105 - signs loopback benchmark traffic
#: The Fernet key of the run; child processes get it through ``PLANWIRE_SECRET_KEY``.
SECRET_KEY = os.environ.get("PLANWIRE_SECRET_KEY") or Fernet.generate_key().decode()


# --- figures and the table ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Row:
    """One line of a result table."""

    benchmark: str
    case: str
    value: float
    unit: str
    #: Value as a share of the wire ceiling measured in the same run (delivery rates).
    ceiling_ratio: float | None = None
    target: str = ""
    #: None: no target; True/False: met or not.
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def fmt_value(value: float, unit: str) -> str:
    if value != value:  # nan
        return "n/a"
    if unit in ("ms", "s") and value < 10:
        return f"{value:.2f} {unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}"


def print_table(rows: Sequence[Row], title: str | None = None) -> None:
    """A Markdown table: benchmark, case, figure, ratio to the wire ceiling, target."""
    if title:
        print(f"\n### {title}\n")
    header = ("benchmark", "case", "figure", "vs wire ceiling", "target", "note")
    lines = [header]
    for row in rows:
        ratio = f"{row.ceiling_ratio:.0%}" if row.ceiling_ratio is not None else ""
        target = row.target
        if row.met is not None:
            target = f"{'met' if row.met else 'MISSED'}: {row.target}"
        lines.append(
            (row.benchmark, row.case, fmt_value(row.value, row.unit), ratio, target, row.note)
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    sys.stdout.flush()


def machine() -> str:
    """One line naming the machine and the software the figures depend on."""
    import aiohttp
    import sqlalchemy

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    import sqlite3

    postgres = _postgres_version()
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {postgres}, SQLAlchemy {sqlalchemy.__version__}, aiohttp {aiohttp.__version__}"
    )


def _postgres_version() -> str:
    from tests.support.postgres import find_postgres_bin_dir

    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        return "not installed"
    out = subprocess.run(
        [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    found = re.search(r"\(PostgreSQL\) (\S+)", out.stdout)
    return found.group(1) if found else "unknown"


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "n/a"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the receiver -------------------------------------------------------------------------------


class Receiver:
    """``benchmarks/receiver.py`` in its own process."""

    def __init__(self, *, secret: str | None = SECRET, record: bool = False) -> None:
        argv = [PYTHON, str(BENCH_DIR / "receiver.py"), "--max-seconds", "3600"]
        if secret:
            argv += ["--secret", secret]
        if record:
            argv.append("--record")
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            self.stop()
            raise RuntimeError(f"the receiver did not start: {line!r}")
        self.port = int(line[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/_stats")
        return result

    def arrivals(self) -> list[tuple[str, float]]:
        return [(event_id, at) for event_id, at in self._get("/_arrivals")]

    def reset(self) -> None:
        self._get("/_reset")

    def wait_for(self, count: int, timeout: float) -> dict[str, Any]:
        """Poll until ``count`` requests arrived (or ``timeout``); the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["count"] >= count or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- databases ----------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (the tests' helper); its server URL.

    Unlike the tests' servers it keeps PostgreSQL's durability settings (fsync, synchronous
    commits, full page writes), as a deployment does: figures include waiting for the WAL on
    disk at every commit. ``PLANWIRE_TEST_POSTGRES_URL`` points at an existing server
    instead, as for the tests.
    """
    from tests.support.postgres import (
        ENV_URL,
        TemporaryPostgres,
        find_postgres_bin_dir,
        sqlalchemy_url,
    )

    external = os.environ.get(ENV_URL, "").strip()
    if external:
        yield sqlalchemy_url(external)
        return
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL binaries not found (initdb, pg_ctl, postgres)")
    server = TemporaryPostgres(bin_dir, durable=True)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def new_postgres_database(server_url: str) -> str:
    from tests.support.postgres import create_database

    return create_database(server_url, f"bench_{uuid.uuid4().hex[:12]}")


def drop_postgres_database(server_url: str, url: str) -> None:
    from sqlalchemy.engine import make_url
    from tests.support.postgres import drop_database

    name = make_url(url).database
    assert name is not None
    drop_database(server_url, name)


@contextlib.contextmanager
def database(backend: str, server_url: str | None, workdir: Path) -> Iterator[str]:
    """A new, migrated database on ``backend`` (``sqlite`` or ``postgresql``); its URL."""
    from planwire.db import make_engine
    from planwire.migrations import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    else:
        assert server_url is not None
        url = new_postgres_database(server_url)
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    try:
        yield url
    finally:
        if backend == "postgresql":
            assert server_url is not None
            drop_postgres_database(server_url, url)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="planwire-bench-") as path:
        yield Path(path)


def environment(url: str, **extra: str) -> dict[str, str]:
    """The environment of a Planwire process on ``url`` (loopback targets allowed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANWIRE_")}
    env.update(
        PLANWIRE_DATABASE_URL=url,
        PLANWIRE_SECRET_KEY=SECRET_KEY,
        PLANWIRE_ALLOW_PRIVATE_TARGETS="true",
        **extra,
    )
    return env


# --- seeding ------------------------------------------------------------------------------------


def task_payload(index: int) -> dict[str, Any]:
    """A ``task.updated``-sized ``data``, shaped as the API's task object."""
    task_id = uuid.UUID(int=index + 1)
    return {
        "id": str(task_id),
        "project_id": "6f1c2b0e-1d2c-4b7a-9a55-0c8f7d1e2a3b",
        "name": f"Task {index}: integrate the billing export",
        "duration": 5,
        "safe_duration": 8,
        "remaining_duration": 3,
        "percent_complete": 40.0,
        "status": "InProgress",
        "is_milestone": False,
        "assignee_id": None,
        "resource": "backend team",
        "start_no_earlier_than": None,
        "actual_start": "2026-03-02",
        "actual_finish": None,
        "es": index % 50,
        "ef": index % 50 + 5,
        "ls": index % 50 + 2,
        "lf": index % 50 + 7,
        "total_float": 2,
        "free_float": 0,
        "is_critical": False,
        "on_critical_chain": False,
        "start_date": "2026-03-02",
        "finish_date": "2026-03-06",
        "buffer": "feeding-1",
        "buffer_consumption": 12.5,
        "zone": "green",
        "created_at": "2026-03-01T09:00:00Z",
        "updated_at": "2026-03-04T15:12:30.123456Z",
    }


def seed_organization(url: str) -> int:
    from planwire.auth import service as auth_service
    from planwire.db import make_engine, make_session_factory

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            organization_id = auth_service.create_organization(session, name="Bench").id
            session.commit()
            return organization_id
    finally:
        engine.dispose()


def seed_webhooks(url: str, organization_id: int, urls: Sequence[str]) -> list[uuid.UUID]:
    """Account webhooks (every event of the organization), trueppm format, one per URL,
    signed with :data:`SECRET` (what the receiver verifies)."""
    from planwire.db import make_engine, make_session_factory, new_id
    from planwire.secrets_store import SecretBox
    from planwire.webhooks.models import Webhook

    box = SecretBox(SECRET_KEY.encode())
    engine = make_engine(url)
    ids = []
    try:
        with make_session_factory(engine)() as session:
            for index, target in enumerate(urls):
                webhook_id = new_id()
                ids.append(webhook_id)
                session.add(
                    Webhook(
                        id=webhook_id,
                        organization_id=organization_id,
                        project_id=None,
                        name=f"bench {index}",
                        url=target,
                        events=[],
                        format="trueppm",
                        secrets_ciphertext=box.seal([SECRET]),
                        headers={},
                    )
                )
            session.commit()
    finally:
        engine.dispose()
    return ids


def seed_events(url: str, organization_id: int, count: int, *, per_transaction: int = 500) -> None:
    """``count`` ``task.updated`` events through the unit of work (outbox and fan-out): each
    makes one pending delivery per webhook."""
    from planwire.db import make_engine, make_session_factory
    from planwire.events import service as events_service
    from planwire.uow import UnitOfWork

    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        for start in range(0, count, per_transaction):
            with UnitOfWork(factory) as uow:
                for index in range(start, min(count, start + per_transaction)):
                    events_service.record(
                        uow.session,
                        organization_id=organization_id,
                        project_id=None,
                        type="task.updated",
                        data=task_payload(index),
                    )
    finally:
        engine.dispose()


def delivery_counts(url: str) -> dict[str, int]:
    """Deliveries per status."""
    from sqlalchemy import func, select

    from planwire.db import make_engine
    from planwire.webhooks.models import Delivery

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            ).all()
        return {status: count for status, count in rows}
    finally:
        engine.dispose()


def attempt_count(url: str) -> int:
    from sqlalchemy import func, select

    from planwire.db import make_engine
    from planwire.webhooks.models import DeliveryAttempt

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(DeliveryAttempt)) or 0)
    finally:
        engine.dispose()


# --- worker processes ---------------------------------------------------------------------------


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``) in MiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Workers:
    """``count`` ``planwire worker`` processes on ``url``; stopped with SIGTERM on exit."""

    def __init__(self, url: str, count: int, logdir: Path, **env: str) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        for index in range(count):
            log = logdir / f"worker-{index}-{uuid.uuid4().hex[:6]}.log"
            self.logs.append(log)
            with log.open("wb") as handle:
                self.processes.append(
                    subprocess.Popen(
                        [PLANWIRE, "worker"],
                        env=environment(url, **env),
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )

    def peak_rss_mb(self) -> list[float]:
        return [rss_mb(p.pid, "VmHWM") for p in self.processes]

    def check_alive(self) -> None:
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited early:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def errors(self) -> list[str]:
        """Log lines at ERROR or with a traceback."""
        found = []
        for log in self.logs:
            for line in log.read_text(errors="replace").splitlines():
                if " ERROR " in line or line.startswith("Traceback"):
                    found.append(line)
        return found

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
