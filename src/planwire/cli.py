"""The ``planwire`` command line."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from planwire import __version__
from planwire.config import ConfigError, Settings, load_settings
from planwire.runtime import tune_gc

app = typer.Typer(
    name="planwire",
    help="Planwire: project scheduling with reliable, signed webhooks.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
console = Console()
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Stop with one line on stderr: never wrapped (rich wraps at the terminal width, 80 columns
    when stderr is not a terminal), never read as rich markup."""
    line = " ".join(message.split())
    err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc))


def key_or_exit(settings: Settings) -> None:
    """Check the secret key, creating the key file beside a SQLite database when unset."""
    from planwire.secrets_store import load_key

    try:
        load_key(settings)
    except ConfigError as exc:
        fail(str(exc))
    except OSError as exc:  # the key file cannot be written there
        fail(f"cannot create the secret key file beside the database: {exc}")


def prepared_engine(settings: Settings):  # type: ignore[no-untyped-def]
    """An engine on a database migrated to the latest schema."""
    from planwire.db import make_engine
    from planwire.migrations import upgrade

    try:
        engine = make_engine(settings.sqlalchemy_url)
        upgrade(engine)
    except Exception as exc:  # a bad URL, an unreachable server: one line, not a traceback
        fail(f"cannot open the database {_safe_url(settings.database_url)!r}: {_first_line(exc)}")
    return engine


def _safe_url(url: str) -> str:
    """The database URL without its password, fit for an error message."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # unparseable: say nothing of it rather than leak it
        return "(unparseable URL)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"planwire {__version__}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="API only; run `planwire worker` elsewhere.")
    ] = False,
) -> None:
    """Run the API, the web UI and the delivery worker in one process."""
    import uvicorn

    from planwire.app import create_app
    from planwire.auth.service import bootstrap
    from planwire.db import make_session_factory

    settings = settings_or_exit()
    key_or_exit(settings)
    engine = prepared_engine(settings)
    with make_session_factory(engine)() as session:
        created = bootstrap(session)
        session.commit()
    if created is not None:
        user, token = created
        console.print(
            Panel(
                f"Created an organization and its admin [bold]{user.email}[/].\n"
                "The API token below is shown once: store it now. Sign in to /ui with it too.",
                title="Planwire first run",
            )
        )
        # Outside the panel and never wrapped, so it copies cleanly from any terminal width.
        console.print(f"\n    {token}\n", style="bold green", soft_wrap=True, highlight=False)
        console.print(
            f'Try: curl -H "Authorization: Bearer {token}" http://{host}:{port}/api/v1/users/me/\n',
            soft_wrap=True,
            highlight=False,
        )
    application = create_app(settings, engine, run_worker=not no_worker)
    console.print(f"Planwire {__version__} on http://{host}:{port}  (docs: /docs, UI: /ui)")
    tune_gc()
    # Piped to a log collector stdout is block-buffered: without this the token shown once
    # would only appear when the server exits (and never if it is killed).
    sys.stdout.flush()
    uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)


@app.command()
def worker() -> None:
    """Run only the delivery worker (scale-out: any number of them on PostgreSQL).

    Stops gracefully on Ctrl-C or SIGTERM: no new claims, in-flight attempts finish or are
    handed back to the other workers.
    """
    import asyncio
    import logging
    import signal

    from planwire.delivery.worker import DeliveryWorker

    settings = settings_or_exit()
    key_or_exit(settings)
    engine = prepared_engine(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    tune_gc()

    async def main() -> None:
        delivery_worker = DeliveryWorker(settings, engine)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await delivery_worker.start()
        console.print(
            f"Planwire {__version__} delivery worker {delivery_worker.owner} on "
            f"{engine.url.render_as_string(hide_password=True)}"
        )
        try:
            await stop.wait()
        finally:
            console.print("stopping: finishing in-flight deliveries")
            await delivery_worker.stop()

    try:  # uvloop (from uvicorn[standard], as `serve` uses it): a faster loop for the sends
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = settings_or_exit()
    prepared_engine(settings)
    console.print("database is up to date")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="The user's email (their sign-in name).")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None, typer.Option(help="Password for the web UI (omit for API-only users).")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make an organization admin.")] = False,
    organization: Annotated[
        int | None, typer.Option(help="Organization id (default: the first one).")
    ] = None,
) -> None:
    """Create a user in an organization."""
    from sqlalchemy import select

    from planwire.auth import service
    from planwire.auth.models import Organization
    from planwire.db import make_session_factory
    from planwire.errors import ApiError

    settings = settings_or_exit()
    engine = prepared_engine(settings)
    with make_session_factory(engine)() as session:
        org_id = organization or session.scalar(select(Organization.id).order_by(Organization.id))
        if org_id is None:
            org_id = service.create_organization(session, name="My organization").id
        elif session.get(Organization, org_id) is None:
            fail(f"no organization {org_id}")
        try:
            user = service.create_user(
                session,
                organization_id=org_id,
                email=email,
                name=name or email.split("@")[0],
                password=password,
                is_org_admin=admin,
            )
        except ApiError as exc:
            fail(exc.detail)
        session.commit()
        console.print(f"created user {user.email} ({user.id}) in organization {org_id}")


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="Whose token.")],
    name: Annotated[str, typer.Option(help="A name to recognise the token by.")] = "cli",
) -> None:
    """Create an API token and print it once."""
    from sqlalchemy import select

    from planwire.auth import service
    from planwire.auth.models import User
    from planwire.db import make_session_factory

    settings = settings_or_exit()
    engine = prepared_engine(settings)
    with make_session_factory(engine)() as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            fail(f"no user with email {email!r}")
        _, clear = service.create_token(session, user=user, name=name)
        session.commit()
    # Plain stdout so scripts can capture it: TOKEN=$(planwire token create --email …)
    sys.stdout.write(clear + "\n")


# Developer experience (planwire.devx): plan import, local receiver, demo, webhook operations.
from planwire.devx.cli import demo_command, import_command, listen_command  # noqa: E402

app.command("import")(import_command)
app.command("listen")(listen_command)
app.command("demo")(demo_command)
from planwire.devx.webhooks_cli import webhooks_app  # noqa: E402

app.add_typer(webhooks_app, name="webhooks")


def main() -> None:
    app()
