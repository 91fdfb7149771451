"""Secrets never leak: webhook signing secrets (given, generated, rotated) and API tokens are
nowhere in clear in the database (the SQLite file and its WAL byte for byte, a PostgreSQL
dump), in the logs of a run that delivers (every logger at DEBUG, SQL statements and their
parameters included), in stored request headers, or in any API or UI response (every GET
route, walked from ``app.routes`` with real ids) after the one that created them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from planwire.app import create_app
from planwire.config import Settings
from planwire.webhooks.models import Delivery, DeliveryAttempt
from tests.conftest import Actor
from tests.reliability.helpers import (
    account_hooks,
    project_hooks,
    register_account_hook,
    register_project_hook,
    wait_until,
)
from tests.support.postgres import find_postgres_bin_dir
from tests.support.receiver import Receiver, Reply

PARAM = re.compile(r"{(\w+)}")
CREDENTIAL = "custom-credential-" + secrets.token_hex(8)


def _standard_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine, run_worker=True, worker_options={"poll_interval": 0.1})


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of every logger, SQLAlchemy's statements and parameters included."""
    caplog.set_level(logging.DEBUG)
    yield caplog


def _database_text(engine: Engine, settings: Settings, tmp_path: Path) -> bytes:
    """The stored bytes: the SQLite file with its WAL and shared memory, or a pg_dump."""
    path = settings.sqlite_path
    if path is not None:
        return b"".join(
            Path(f"{path}{suffix}").read_bytes()
            for suffix in ("", "-wal", "-shm")
            if Path(f"{path}{suffix}").exists()
        )
    bin_dir = find_postgres_bin_dir()
    assert bin_dir is not None
    url = make_url(settings.sqlalchemy_url)
    dump = tmp_path / "dump.sql"
    subprocess.run(
        [
            str(bin_dir / "pg_dump"),
            "--host",
            str(url.host),
            "--port",
            str(url.port),
            "--username",
            str(url.username),
            "--dbname",
            str(url.database),
            "--file",
            str(dump),
        ],
        check=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    data = dump.read_bytes()
    with engine.connect() as connection:  # the dump holds the data (not just the schema)
        assert connection.scalar(text("select count(*) from webhooks"))
    assert b"COPY public.webhooks" in data
    return data


def _get_routes(app: FastAPI) -> list[str]:
    paths = []
    for context in iter_route_contexts(app.routes):
        methods = getattr(context.original_route, "methods", None) or set()
        if "GET" in methods and context.path is not None:
            paths.append(context.path)
    return paths


def test_secrets_never_leak(
    settings: Settings,
    engine: Engine,
    app: FastAPI,
    admin: Actor,
    project: dict[str, Any],
    receiver: Receiver,
    logs: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    pid = project["id"]
    receiver.program("/fails", Reply(status=500, body=b"no"))
    given = {
        "trueppm": "trueppm-secret-" + secrets.token_hex(8),
        "exepron": "exepron-secret-" + secrets.token_hex(8),
        "standard": _standard_secret(),
    }
    rotated_to = _standard_secret()
    shown: list[str] = []  # every secret, each seen once, in the response that set it
    hooks: list[tuple[str, str]] = []  # (surface, id)
    custom = {"Authorization": f"Bearer {CREDENTIAL}", "X-Api-Key": CREDENTIAL}
    for fmt, secret in given.items():
        for path in ("/ok", "/fails"):
            response = register_project_hook(
                admin,
                pid,
                receiver.url(path),
                format=fmt,
                secret=secret,
                headers=custom,
                retry_schedule=[0.1],
            )
            assert response.status_code == 201, response.text
            hooks.append(("project", response.json()["id"]))
        response = register_account_hook(
            admin, receiver.url("/ok"), format=fmt, secret=secret, headers=custom
        )
        assert response.status_code == 201, response.text
        hooks.append(("account", response.json()["id"]))
    for fmt in given:  # secrets generated by the server, shown once
        response = admin.post(project_hooks(pid), json={"url": receiver.url("/ok"), "format": fmt})
        assert response.status_code == 201, response.text
        shown.append(response.json()["secret"])
        hooks.append(("project", response.json()["id"]))
        response = admin.post(account_hooks(), json={"url": receiver.url("/ok"), "format": fmt})
        assert response.status_code == 201, response.text
        shown.append(response.json()["secret"])
        hooks.append(("account", response.json()["id"]))
    standard_hook = next(
        hook_id
        for surface, hook_id in hooks
        if surface == "project"
        and admin.get(project_hooks(pid, hook_id)).json()["format"] == "standard"
    )
    rotated = admin.patch(project_hooks(pid, standard_hook), json={"secret": rotated_to})
    assert rotated.status_code == 200 and "secret" not in rotated.json()
    all_secrets = [*given.values(), rotated_to, *shown]
    assert len(set(all_secrets)) == len(all_secrets) == 10

    # Deliver: a task change reaches every project hook, a test event each account hook.
    task = admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "Leak check", "duration": 1})
    assert task.status_code == 201
    for surface, hook_id in hooks:
        if surface == "account":
            sent = admin.post(account_hooks(hook_id, "test"), json={"event": "task.updated"})
            assert sent.status_code == 202, sent.text

    def finished() -> bool:
        with engine.connect() as connection:
            statuses = list(connection.scalars(select(Delivery.status)))
        return bool(statuses) and "pending" not in statuses

    wait_until(finished, 30, "every delivery to finish")
    # The secrets were really used: the TruePPM signatures verify with the given secret.
    trueppm = [r for r in receiver.requests if "X-TruePPM-Signature" in r.headers]
    assert trueppm
    assert any(
        r.headers["X-TruePPM-Signature"]
        == "sha256=" + hmac.new(given["trueppm"].encode(), r.body, hashlib.sha256).hexdigest()
        for r in trueppm
    )
    with_credential = [r for r in receiver.requests if r.headers.get("X-Api-Key") == CREDENTIAL]
    assert len(with_credential) >= 9  # sent to the receiver as configured

    leaks: list[str] = []
    secret_like = [*all_secrets, admin.token]
    # Stored request headers: signatures and credentials redacted.
    with engine.connect() as connection:
        stored = [dict(h) for h in connection.scalars(select(DeliveryAttempt.request_headers))]
    assert len(stored) >= 30
    for headers in stored:
        for name, value in headers.items():
            if any(s in str(value) for s in [*secret_like, CREDENTIAL]):
                leaks.append(f"stored header {name}")
            if re.search(r"signature|authorization|api-key", name, re.I) and value != "<redacted>":
                leaks.append(f"stored header {name} = {value!r}")

    # Every GET route, API and UI, with real ids, as the organization admin.
    browser = TestClient(app)
    page = browser.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    assert (
        browser.post(
            "/ui/login",
            data={"token": admin.token, "csrf_token": csrf.group(1)},
            follow_redirects=False,
        ).status_code
        == 303
    )
    second = admin.post(f"/api/v1/projects/{pid}/tasks/", json={"name": "Next", "duration": 1})
    link = admin.post(
        f"/api/v1/projects/{pid}/dependencies/",
        json={"predecessor_id": task.json()["id"], "successor_id": second.json()["id"]},
    )
    assert link.status_code == 201, link.text
    ids = {
        "project_id": pid,
        "task_id": task.json()["id"],
        "dependency_id": link.json()["id"],
        "name": "planwire.css",
    }
    seen = 0
    for path in _get_routes(app):
        variants = []
        for surface, hook_id in hooks:
            with engine.connect() as connection:
                delivery = connection.scalar(
                    select(Delivery.id).where(Delivery.webhook_id == uuid.UUID(hook_id)).limit(1)
                )
            scoped = ("{project_id}" in path) == (surface == "project")
            if "{webhook_id}" in path and not scoped:
                continue
            variants.append({**ids, "webhook_id": hook_id, "delivery_id": str(delivery)})
            if "{webhook_id}" not in path:
                break
        for values in variants:
            url = PARAM.sub(lambda m, v=values: str(v.get(m.group(1), m.group(0))), path)
            if "{" in url:
                leaks.append(f"no id for {path}")
                continue
            client = browser if url.startswith("/ui") else admin.client
            response = client.get(url, headers=admin.headers if client is admin.client else {})
            seen += 1
            if response.status_code >= 400:
                leaks.append(f"GET {url}: {response.status_code}")
            for secret in [*secret_like, CREDENTIAL]:
                if secret in response.text:
                    leaks.append(f"GET {url} shows a secret")

    # The logs of the whole run.
    log_text = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in logs.records
    )
    assert len(logs.records) > 100  # SQL statements and parameters were logged
    for secret in secret_like:
        if secret in log_text:
            leaks.append(f"the logs hold the secret {secret[:12]}…")

    # The database, byte for byte.
    stored_bytes = _database_text(engine, settings, tmp_path)
    assert b"Leak check" in stored_bytes  # the bytes searched hold the data
    for secret in secret_like:
        if secret.encode() in stored_bytes:
            leaks.append(f"the database holds {secret[:12]}… in clear")
    assert leaks == [], "\n".join(leaks)
    assert seen > 40
