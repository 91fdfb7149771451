"""``planwire demo``: the whole job in one command, on a throwaway database.

1. Planwire starts in-process on 127.0.0.1 (uvicorn, with the delivery worker) on a temporary
   SQLite database, and creates an organization, an admin and an API token.
2. A local receiver starts (:class:`planwire.devx.listen.Listener`, what ``planwire listen``
   runs), and an account webhook in the ``exepron`` format, for every event type, is registered
   to it through :mod:`planwire.webhooks.service`.
3. A critical-chain project is imported from CSV through ``POST …/import/``: ten tasks on five
   resources, two milestones.
4. A few weeks of progress are reported through the REST API: the project goes Active, tasks
   start and finish, the backend runs late (the project buffer turns yellow: an early warning)
   and the marketing site runs later still (its feeding buffer turns red: ``task.red``).
5. Every delivery is verified and printed as it arrives.

It ends by itself, or with ``--keep-running`` keeps the server up (Ctrl-C stops it).
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from cryptography.fernet import Fernet
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import Engine, func, select

from planwire.config import Settings
from planwire.devx.listen import Listener, Received, print_received

__all__ = ["DemoResult", "run_demo"]

PLAN_CSV = """ref,name,duration,predecessors,resource,milestone
req,Requirements,3,,analyst,
design,Design,5,req,ux,
api,Backend API,8,design,dev,
ui,Web UI,6,design,web,
db,Data migration,4,api,dev,
docs,User docs,3,ui,writer,
test,Integration tests,4,api;ui;db,qa,
beta,Beta release,0,test,,yes
mkt,Marketing site,4,design,marketing,
signoff,Design sign-off,0,design,,yes
launch,Launch,0,beta;docs;mkt,,yes
"""
DURATIONS = {
    line.split(",")[0]: int(line.split(",")[2]) for line in PLAN_CSV.splitlines()[1:] if line
}

#: Events whose body is printed in full (the rest get one line each).
HIGHLIGHTS = frozenset(
    {"project.started", "task.red", "project.early_warning", "milestone.achieved"}
)


@dataclass(frozen=True)
class Step:
    """Something that happens on a day of the simulation: a PATCH of a task or the project."""

    day: int
    say: str
    task: str | None  # a ref of PLAN_CSV, or None for the project
    change: dict[str, Any]


SCENARIO = (
    Step(0, "The project goes Active: the baseline is recorded", None, {"status": "Active"}),
    Step(0, "Requirements start", "req", {"status": "InProgress"}),
    Step(3, "Requirements are done", "req", {"status": "Completed"}),
    Step(3, "Design starts", "design", {"status": "InProgress"}),
    Step(8, "Design is done", "design", {"status": "Completed"}),
    Step(8, "Design is signed off (a milestone)", "signoff", {"status": "Completed"}),
    Step(8, "Backend, Web UI and the marketing site start", "api", {"status": "InProgress"}),
    Step(8, "", "ui", {"status": "InProgress"}),
    Step(8, "", "mkt", {"status": "InProgress"}),
    Step(10, "The backend runs late: 13 days left instead of 6", "api", {"remaining_duration": 13}),
    Step(12, "The marketing site is done", "mkt", {"status": "Completed"}),
    Step(
        12, "The backend slips again: 15 days left instead of 11", "api", {"remaining_duration": 15}
    ),
    Step(14, "Web UI is done", "ui", {"status": "Completed"}),
    Step(14, "User docs start", "docs", {"status": "InProgress"}),
)


@dataclass
class DemoResult:
    deliveries: int
    verified: int
    events: Counter[str]
    url: str
    token: str


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _next_monday(today: date) -> date:
    return today + timedelta(days=(7 - today.weekday()) % 7)


def _prepare(folder: Path, console: Console) -> tuple[Settings, Engine, int, str]:
    from planwire.auth.service import bootstrap
    from planwire.db import make_engine, make_session_factory
    from planwire.migrations import upgrade

    settings = Settings(
        database_url=f"sqlite:///{folder / 'demo.db'}",
        secret_key=Fernet.generate_key().decode(),
        # The receiver is on loopback, which webhooks may not target by default (SSRF guard).
        allowed_target_networks=["127.0.0.1/32"],
        delivery_timeout=10,
    )
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        created = bootstrap(session)
        session.commit()
    assert created is not None  # a new database
    user, token = created
    console.print(f"Created a throwaway database in {folder} with admin {user.email}")
    return settings, engine, user.organization_id, token


def _register_webhook(settings: Settings, engine: Engine, organization_id: int, url: str) -> str:
    """An exepron account webhook for every event; returns its secret."""
    from planwire.db import make_session_factory
    from planwire.uow import UnitOfWork
    from planwire.webhooks import service

    with UnitOfWork(make_session_factory(engine)) as uow:
        _, secret = service.create_webhook(
            uow.session,
            config=service.WebhookConfig.from_settings(settings),
            organization_id=organization_id,
            project_id=None,
            created_by_id=None,
            fields={"name": "planwire demo", "url": url, "format": "exepron", "events": []},
        )
    return secret


def _pending(engine: Engine) -> int:
    from planwire.webhooks.models import Delivery

    with engine.connect() as connection:
        count = connection.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
        )
    return int(count or 0)


async def _settle(engine: Engine, within: float = 30.0) -> None:
    """Wait until every delivery so far has been sent (so the output follows the story)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_pending, engine) == 0:
            return
        await asyncio.sleep(0.1)


class _Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        async with self.http.request(method, self.base + path, **kw) as response:
            body = await response.json()
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {body}")
            return body


async def run_demo(
    console: Console,
    *,
    keep_running: bool = False,
    port: int = 0,
    show_bodies: bool = True,
    pause: float = 0.0,
    folder: Path | None = None,
) -> DemoResult:
    """Run the demo; ``pause`` seconds between simulated days (0 in tests)."""
    with tempfile.TemporaryDirectory(prefix="planwire-demo-") as scratch:
        return await _run(
            console,
            folder or Path(scratch),
            keep_running=keep_running,
            port=port,
            show_bodies=show_bodies,
            pause=pause,
        )


async def _run(
    console: Console,
    folder: Path,
    *,
    keep_running: bool,
    port: int,
    show_bodies: bool,
    pause: float,
) -> DemoResult:
    from planwire.app import create_app

    settings, engine, organization_id, token = await asyncio.to_thread(_prepare, folder, console)
    received: list[Received] = []

    def on_delivery(item: Received) -> None:
        received.append(item)
        print_received(console, item, show_body=show_bodies and item.event in HIGHLIGHTS)

    listener = Listener([], format="exepron", on_delivery=on_delivery)
    await listener.start()
    sock = _free_socket() if port == 0 else None
    if sock is None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings, engine, run_worker=True, worker_options={"poll_interval": 0.5})
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                await serving  # raises what stopped it
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.05)
        secret = await asyncio.to_thread(
            _register_webhook, settings, engine, organization_id, listener.url + "hooks/demo"
        )
        listener.secrets = [secret]
        console.print(
            Panel(
                f"Planwire on [bold]{url}[/] (docs: {url}/docs, UI: {url}/ui)\n"
                f"API token: [bold]{token}[/]\n"
                f"Receiver:  {listener.url}hooks/demo (exepron format, every event, "
                "signatures verified)",
                title="planwire demo",
            ),
            highlight=False,
        )
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            await _story(console, _Api(http, url + "/api/v1"), engine, pause)
        await _settle(engine)
        _summary(console, received)
        if keep_running:
            console.print(
                f"\nStill running on {url}: try the UI, the API or more changes; "
                "deliveries keep printing here. Ctrl-C to stop.",
                highlight=False,
            )
            await serving
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=30)
        await listener.stop()
        engine.dispose()
    events = Counter(r.event or "?" for r in received if r.verified)
    return DemoResult(
        deliveries=len(received),
        verified=sum(1 for r in received if r.verified),
        events=events,
        url=url,
        token=token,
    )


async def _story(console: Console, api: _Api, engine: Engine, pause: float) -> None:
    start = _next_monday(datetime.now(UTC).date())

    async def narrate(text: str, action: Awaitable[Any]) -> Any:
        if text:
            console.print(f"[bold cyan]▶ {text}[/]", highlight=False)
        result = await action
        await _settle(engine)
        return result

    project = await narrate(
        "Creating the project 'Q1 Product Launch' (critical chain, cut-and-paste buffers)",
        api.call(
            "POST",
            "/projects/",
            json={
                "name": "Q1 Product Launch",
                "start_date": start.isoformat(),
                "status_date": start.isoformat(),
            },
        ),
    )
    pid = project["id"]
    imported = await narrate(
        "Importing 11 tasks on 6 resources with 3 milestones from CSV (one transaction)",
        api.call(
            "POST",
            f"/projects/{pid}/import/",
            data=PLAN_CSV.encode(),
            headers={"Content-Type": "text/csv"},
        ),
    )
    ids = {task["ref"]: task["id"] for task in imported["tasks"]}
    schedule = await api.call("GET", f"/projects/{pid}/schedule/")
    buffer = (schedule.get("buffers") or {}).get("project") or {}
    console.print(
        f"[cyan]  schedule: {schedule.get('duration')} working days, project buffer "
        f"{buffer.get('size', '?')} days, finish {schedule.get('finish_date')}[/]",
        highlight=False,
    )

    # Tasks in progress report their remaining duration every day, as the plan expects
    # unless a step said otherwise: ref -> (day of the last report, remaining then).
    in_progress: dict[str, tuple[int, int]] = {}
    day = -1
    for step in SCENARIO:
        while day < step.day:
            # One working day at a time: "now" moves, then each task in progress reports the
            # remaining duration the plan expects (so only the late ones consume buffer).
            day += 1
            moment = _working_day(start, day)
            if pause:
                await asyncio.sleep(pause)
            console.rule(f"Day {day}: {moment.strftime('%a %d %b %Y')}", style="cyan")
            if day:
                await narrate(
                    "",
                    api.call(
                        "PATCH", f"/projects/{pid}/", json={"status_date": moment.isoformat()}
                    ),
                )
                await _report_progress(api, ids, in_progress, day, narrate)
        path = f"/projects/{pid}/" if step.task is None else f"/tasks/{ids[step.task]}/"
        await narrate(step.say, api.call("PATCH", path, json=step.change))
        if step.task is not None:
            status = step.change.get("status")
            if status == "InProgress":
                in_progress[step.task] = (day, DURATIONS[step.task])
            elif status == "Completed":
                in_progress.pop(step.task, None)
            elif "remaining_duration" in step.change:
                in_progress[step.task] = (day, int(step.change["remaining_duration"]))
    project = await api.call("GET", f"/projects/{pid}/")
    buffer_state = project["project_buffer"]
    console.print(
        f"[cyan]  project buffer: {buffer_state['consumption']:.0f} % consumed, zone "
        f"{buffer_state['zone']}, chain {buffer_state['chain_completion']:.0f} % complete[/]",
        highlight=False,
    )


async def _report_progress(
    api: _Api,
    ids: dict[str, str],
    in_progress: dict[str, tuple[int, int]],
    today: int,
    narrate: Callable[[str, Awaitable[Any]], Awaitable[Any]],
) -> None:
    """Each task in progress reports the remaining duration the plan expects by ``today``
    (what it said on its last report, less the days since)."""
    for ref, (since, remaining) in sorted(in_progress.items()):
        left = max(1, remaining - (today - since))
        if left != remaining:
            in_progress[ref] = (today, left)
            await narrate(
                "",
                api.call("PATCH", f"/tasks/{ids[ref]}/", json={"remaining_duration": left}),
            )


def _working_day(start: date, offset: int) -> date:
    """The ``offset``-th working day (Monday to Friday) from ``start``."""
    day = start
    left = offset
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def _summary(console: Console, received: list[Received]) -> None:
    table = Table(title="Deliveries received and verified")
    table.add_column("event")
    table.add_column("count", justify="right")
    counts = Counter(r.event or "?" for r in received if r.verified)
    for event, count in sorted(counts.items()):
        table.add_row(event, str(count))
    console.print(table)
    refused = sum(1 for r in received if not r.verified)
    console.print(
        f"{sum(counts.values())} deliveries verified"
        + (f", [red]{refused} refused[/]" if refused else "")
        + ". Every one was signed (X-Exepron-Signature) and checked with planwire.verify.",
        highlight=False,
    )
