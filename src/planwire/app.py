"""The FastAPI application: routers, middleware, error handlers and the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from planwire import __version__
from planwire.api.middleware import BodyLimitMiddleware, TrailingSlashMiddleware
from planwire.auth.endpoints import router as auth_router
from planwire.config import Settings, get_settings
from planwire.db import make_engine, make_session_factory
from planwire.devx.endpoints import router as import_router
from planwire.errors import install_error_handlers
from planwire.projects.endpoints import router as projects_router
from planwire.tasks.endpoints import router as tasks_router
from planwire.ui.endpoints import router as ui_router
from planwire.webhooks.endpoints import router as webhooks_router

DESCRIPTION = """Planwire keeps projects (tasks, dependencies, a CPM schedule, critical-chain
buffers) and pushes every change to your systems as signed webhooks.

Authenticate with `Authorization: Bearer <token>`. Every route under `/api/` answers with and
without its trailing slash. Lists are paginated with `?page=` and `?page_size=`."""


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    run_worker: bool = False,
    worker_options: dict[str, Any] | None = None,
) -> FastAPI:
    """The application. ``run_worker`` runs the delivery worker in the app's event loop for
    the app's lifetime (``planwire serve``; ``worker_options`` are keyword arguments of
    :class:`~planwire.delivery.worker.DeliveryWorker`); without it deliveries wait for a
    ``planwire worker`` process."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.sqlalchemy_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not run_worker:
            yield
            return
        from planwire.delivery.worker import DeliveryWorker

        worker = DeliveryWorker(app.state.settings, app.state.engine, **(worker_options or {}))
        app.state.worker = worker
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()

    app = FastAPI(
        title="Planwire",
        version=__version__,
        description=DESCRIPTION,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)
    app.include_router(auth_router)
    app.include_router(projects_router)
    app.include_router(tasks_router)
    app.include_router(import_router)
    app.include_router(ui_router)  # web UI at /ui (pages and its static files)
    app.include_router(webhooks_router)

    @app.get("/health", tags=["health"], summary="Liveness")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(TrailingSlashMiddleware)
    return app
