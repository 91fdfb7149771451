"""``planwire import``, ``planwire listen`` and ``planwire demo`` (registered in
:mod:`planwire.cli`)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from planwire.devx.importers import (
    FORMATS,
    ImportedPlan,
    PlanImportError,
    detect_format,
    parse_plan,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from planwire.devx.plan_import import ImportResult

console = Console()
err = Console(stderr=True)


def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="A .xml (MSPDI) or .csv file."
        ),
    ],
    project: Annotated[uuid.UUID, typer.Option(help="The id of the project to import into.")],
    format: Annotated[
        str | None,
        typer.Option(help="mspdi or csv (default: from the file name or its first bytes)."),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Email of the user the import is done as (default: the project's "
            "creator, else an organization admin).",
        ),
    ] = None,
    no_calendar: Annotated[
        bool, typer.Option("--no-calendar", help="Keep the project's calendar.")
    ] = False,
    minutes_per_day: Annotated[
        float | None,
        typer.Option(help="Working minutes in a day (default: the file's, or 480)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (for scripts).")
    ] = False,
) -> None:
    """Import a plan (Microsoft Project XML or CSV) into a project, in one transaction and one
    recalculation. See examples/plans/README.md for the CSV columns and what is converted."""
    from planwire.cli import fail, prepared_engine, settings_or_exit

    fmt = format.lower() if format else None
    if fmt is not None and fmt not in FORMATS:
        fail(f"--format must be one of: {', '.join(FORMATS)}")
    settings = settings_or_exit()
    data = file.read_bytes()
    fmt = fmt or detect_format(filename=file.name, head=data[:256])
    if fmt is None:
        fail(f"{file} is empty")
    engine = prepared_engine(settings)
    started = time.perf_counter()
    quiet = json_output or not console.is_terminal
    try:
        with _ImportProgress(file.name, disabled=quiet) as bar:
            try:
                plan = parse_plan(data, fmt, minutes_per_day=minutes_per_day, progress=bar.update)
            except PlanImportError as exc:
                bar.stop()
                fail(f"{file.name}: {exc}")
            bar.saving(len(plan.tasks), len(plan.dependencies))
            result = _save(engine, project, plan, as_user, not no_calendar)
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - started
    if json_output:
        payload = {
            "format": result.format,
            "counts": {
                "tasks": len(result.tasks),
                "dependencies": result.dependencies,
                "milestones": result.milestones,
                "skipped_tasks": result.skipped_tasks,
                "holidays": result.holidays,
            },
            "calendar_applied": result.calendar_applied,
            "seconds": round(elapsed, 3),
            "tasks": [{"ref": t.ref, "id": str(t.id), "name": t.name} for t in result.tasks],
            "warnings": result.warnings,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    calendar = f"; calendar applied ({result.holidays} holidays)" if result.calendar_applied else ""
    skipped = f"; {result.skipped_tasks} skipped (summary, blank or inactive)"
    console.print(
        f"[bold green]Imported[/] {len(result.tasks)} tasks ({result.milestones} milestones) and "
        f"{result.dependencies} links from {file.name} ({result.format}) in {elapsed:.2f} s"
        f"{calendar}{skipped if result.skipped_tasks else ''}",
        highlight=False,
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _save(
    engine: Engine, project_id: uuid.UUID, plan: ImportedPlan, as_user: str | None, calendar: bool
) -> ImportResult:
    from sqlalchemy import select

    from planwire.auth.models import User
    from planwire.cli import fail
    from planwire.db import make_session_factory
    from planwire.devx.plan_import import import_plan
    from planwire.errors import ApiError
    from planwire.projects.models import Project
    from planwire.uow import UnitOfWork

    with UnitOfWork(make_session_factory(engine)) as uow:
        session = uow.session
        project = session.scalar(select(Project).where(Project.id == project_id).with_for_update())
        if project is None:
            fail(f"no project {project_id}")
        if as_user is not None:
            user = session.scalar(
                select(User).where(
                    User.email == as_user.strip().lower(),
                    User.organization_id == project.organization_id,
                )
            )
            if user is None:
                fail(f"no user {as_user!r} in the project's organization")
        else:
            creator = session.get(User, project.created_by_id) if project.created_by_id else None
            user = creator or session.scalar(
                select(User)
                .where(User.organization_id == project.organization_id)
                .order_by(User.is_org_admin.desc(), User.created_at)
            )
            if user is None:
                fail("the project's organization has no user; create one with planwire user create")
        try:
            return import_plan(
                session, user=user, project=project, plan=plan, apply_calendar=calendar
            )
        except ApiError as exc:
            fail(exc.detail)


class _ImportProgress:
    """The progress bar of ``planwire import``: reading, converting, saving."""

    def __init__(self, name: str, *, disabled: bool) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=disabled,
        )
        self.name = name
        self.phases: dict[str, TaskID] = {}
        self.save_task: TaskID | None = None

    def __enter__(self) -> _ImportProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.save_task is not None:
            self.progress.update(self.save_task, total=1, completed=1)
        self.progress.stop()

    def update(self, phase: str, done: int, total: int) -> None:
        if phase not in self.phases:
            label = f"Reading {self.name}" if phase == "read" else "Converting tasks"
            self.phases[phase] = self.progress.add_task(label, total=total)
        self.progress.update(self.phases[phase], completed=done, total=total)

    def saving(self, tasks: int, links: int) -> None:
        self.save_task = self.progress.add_task(
            f"Creating {tasks} tasks and {links} links, recalculating", total=None
        )


def listen_command(
    secret: Annotated[
        list[str],
        typer.Option(
            help="The webhook's secret (repeat it during a secret rotation).",
            envvar="PLANWIRE_LISTEN_SECRET",
        ),
    ],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8787,
    format: Annotated[
        str | None,
        typer.Option(help="trueppm, exepron or standard (default: from the signature header)."),
    ] = None,
    status: Annotated[
        int,
        typer.Option(
            min=200,
            max=599,
            help="Status to answer verified deliveries with (e.g. 500 to watch retries).",
        ),
    ] = 200,
    compact: Annotated[
        bool, typer.Option("--compact", help="One line per delivery, without the body.")
    ] = False,
) -> None:
    """Receive webhooks locally: verify each delivery's signature, print it, answer 2xx."""
    import asyncio
    import signal

    from planwire.cli import fail
    from planwire.devx.listen import FORMATS, Listener, print_received

    if format is not None and format not in FORMATS:
        fail(f"--format must be one of: {', '.join(FORMATS)}")
    if any(not s for s in secret):
        fail("--secret must not be empty")

    async def main() -> None:
        listener = Listener(
            secret,
            format=format,
            status=status,
            port=port,
            on_delivery=lambda r: print_received(console, r, show_body=not compact),
        )
        try:
            await listener.start()
        except OSError as exc:
            fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        expecting = format or "any format (recognised by its signature header)"
        console.print(
            f"[bold]Listening[/] on {listener.url} for {expecting}; verified deliveries get "
            f"{status}, bad signatures 401. Ctrl-C to stop.\n"
            "Register this URL as a webhook with the same secret; Planwire delivers to "
            "127.0.0.1 only with PLANWIRE_ALLOW_PRIVATE_TARGETS=true (development).",
            highlight=False,
        )
        try:
            await stop.wait()
        finally:
            await listener.stop()
            console.print(f"stopped after {len(listener.received)} requests")

    asyncio.run(main())


def demo_command(
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Keep the server up afterwards (Ctrl-C).")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for the server (0: any free port).")] = 0,
    bodies: Annotated[
        bool, typer.Option(help="Print the body of the most telling deliveries.")
    ] = True,
    pause: Annotated[
        float, typer.Option(min=0, max=60, help="Seconds to pause between simulated days.")
    ] = 0.5,
) -> None:
    """Show the whole job: a demo project, a webhook to a built-in receiver, simulated
    progress, and every verified delivery printed live (on a throwaway database)."""
    import asyncio

    from planwire.devx.demo import run_demo

    try:
        asyncio.run(
            run_demo(console, keep_running=keep_running, port=port, show_bodies=bodies, pause=pause)
        )
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down; the temporary files are gone
        console.print("demo stopped")
