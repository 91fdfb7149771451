"""Shared fixtures: a migrated database on each backend, the app, a client and factories.

Database-backed tests take the ``db_url`` fixture, parametrized over SQLite and PostgreSQL (a
real server started by ``tests.support.postgres``). SQLite databases are copies of a template
migrated once per session; the PostgreSQL database is migrated once and truncated per test.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from planwire.app import create_app
from planwire.auth import service as auth_service
from planwire.config import Settings
from planwire.db import Base, make_engine, make_session_factory
from planwire.migrations import upgrade
from tests.support.netguard import guarded

pytest_plugins = ["tests.support.postgres", "tests.support.browser"]

TEST_SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    """Every test stays on this machine: a connection or datagram to anything but loopback
    fails the test, and name lookups are answered locally as unknown names (never sent to the
    system resolver). ``tests/reliability`` is stricter: it refuses unexpected lookups too."""
    with guarded(allow_lookups=True) as guard:
        yield
    assert not guard.problems(), f"traffic would have left the host: {guard.problems()}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_test_url(postgres_server_url: str) -> str:
    from tests.support.postgres import create_database

    url = create_database(postgres_server_url, f"planwire_test_{uuid.uuid4().hex[:8]}")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "planwire.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_test_url")
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        secret_key=TEST_SECRET_KEY,
        allow_private_targets=True,
        max_body_bytes=1024 * 1024,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.sqlalchemy_url)
    yield engine
    engine.dispose()


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Actor:
    """A user with a token, and a client that sends it."""

    id: uuid.UUID
    email: str
    token: str
    organization_id: int
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self.headers, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.client.patch(url, headers=self.headers, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.client.put(url, headers=self.headers, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self.headers, **kw)


ActorFactory = Callable[..., Actor]


@pytest.fixture
def make_actor(engine: Engine, client: TestClient) -> ActorFactory:
    """Create a user (in a new organization unless ``organization_id`` is given)."""
    factory = make_session_factory(engine)

    def make(
        *,
        organization_id: int | None = None,
        is_org_admin: bool = False,
        email: str | None = None,
        password: str | None = None,
    ) -> Actor:
        with factory() as session:
            if organization_id is None:
                organization_id = auth_service.create_organization(session, name="Org").id
            user = auth_service.create_user(
                session,
                organization_id=organization_id,
                email=email or f"user-{uuid.uuid4().hex[:8]}@example.com",
                name="Test User",
                password=password,
                is_org_admin=is_org_admin,
            )
            _, token = auth_service.create_token(session, user=user, name="test")
            session.commit()
            return Actor(user.id, user.email, token, organization_id, client)

    return make


@pytest.fixture
def admin(make_actor: ActorFactory) -> Actor:
    return make_actor(is_org_admin=True)


@pytest.fixture
def project(admin: Actor) -> dict[str, Any]:
    response = admin.post("/api/v1/projects/", json={"name": "Launch", "start_date": "2026-01-05"})
    assert response.status_code == 201, response.text
    return dict(response.json())
