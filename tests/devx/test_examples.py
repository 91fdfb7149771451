"""The receiver examples (examples/receivers/) run as real processes on 127.0.0.1 and accept
real deliveries from Planwire in every format; they refuse forgeries and spot duplicates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from planwire.config import Settings
from planwire.delivery.formats import build_request, generate_secret
from tests.conftest import Actor
from tests.devx.conftest import ROOT, Spawned, project_webhook, wait_until, worker_app

EXAMPLES = ROOT / "examples" / "receivers"
FORMATS = ("trueppm", "exepron", "standard")
# A whsec_ secret is a valid secret for every format, so one example process serves all three.
SECRET = generate_secret("standard")


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return worker_app(settings, engine)


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed (scripts/test installs it)")
    return path


@pytest.fixture(scope="session")
def express_modules(node: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A node_modules folder with Express: the examples' own if installed, else an npm
    install of package.json's dependencies into a temporary folder (once per session)."""
    local = EXAMPLES / "node" / "node_modules"
    if (local / "express").is_dir():
        return str(local)
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    folder = tmp_path_factory.mktemp("express")
    shutil.copy(EXAMPLES / "node" / "package.json", folder / "package.json")
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--omit=dev"],
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=300,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"npm install express failed here: {exc}")
    return str(folder / "node_modules")


def command(example: str, request: pytest.FixtureRequest) -> tuple[list[str], dict[str, str]]:
    if example == "flask":
        return [sys.executable, str(EXAMPLES / "flask_receiver.py")], {}
    if example == "fastapi":
        return [sys.executable, str(EXAMPLES / "fastapi_receiver.py")], {}
    node: str = request.getfixturevalue("node")
    if example == "node-http":
        return [node, str(EXAMPLES / "node" / "http_receiver.js")], {}
    modules: str = request.getfixturevalue("express_modules")
    return [node, str(EXAMPLES / "node" / "express_receiver.js")], {"NODE_PATH": modules}


@pytest.fixture(params=["flask", "fastapi", "node-http", "node-express"])
def example(request: pytest.FixtureRequest) -> Iterator[tuple[Spawned, str]]:
    args, env = command(request.param, request)
    with Spawned(args, env={"WEBHOOK_SECRET": SECRET, "PORT": "0", **env}) as process:
        line = process.wait_for(lambda text: text.startswith('{"listening"'), what="the port")
        yield process, f"http://127.0.0.1:{json.loads(line)['listening']}"


def verified_line(text: str, fmt: str) -> bool:
    try:
        line = json.loads(text)
    except ValueError:
        return False
    return isinstance(line, dict) and line.get("format") == fmt and line.get("verified") is True


def signed(fmt: str, secret: str, delivery_id: uuid.UUID) -> tuple[dict[str, str], bytes]:
    request = build_request(
        fmt,
        delivery_id=delivery_id,
        event_type="task.red",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        account_id=1,
        project_id=uuid.uuid4(),
        webhook_public_id="wh_test",
        data={"taskName": "Backend", "bufferConsumption": 92.5},
        retry_count=0,
        secrets=[secret],
        custom_headers={},
        user_agent="tests",
    )
    return request.headers, request.body


# The delivery pipeline runs on both backends elsewhere; here the receivers are under test.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_example_accepts_real_deliveries_in_every_format(
    example: tuple[Spawned, str], client: Any, admin: Actor, project: dict[str, Any]
) -> None:
    process, base = example
    hooks = {
        fmt: project_webhook(
            admin,
            project["id"],
            f"{base}/webhooks/{fmt}",
            SECRET,
            format=fmt,
            events=["task.created"],
        )
        for fmt in FORMATS
    }
    response = admin.post(
        f"/api/v1/projects/{project['id']}/tasks/", json={"name": "Design ✓", "duration": 3}
    )
    assert response.status_code == 201
    for fmt in FORMATS:
        process.wait_for(lambda text, fmt=fmt: verified_line(text, fmt), what=f"the {fmt} one")
    lines = [line for line in process.json_lines() if line.get("verified")]
    assert {line["format"] for line in lines} == set(FORMATS)
    assert all(line["event"] == "task.created" and not line["duplicate"] for line in lines)
    # The delivery ids the example saw are Planwire's, and Planwire recorded a 200 for each.
    for fmt, hook in hooks.items():
        url = f"/api/v1/projects/{project['id']}/webhooks/{hook['id']}/deliveries/"

        def recorded(url: str = url) -> list[dict[str, Any]] | None:
            # The example prints before it answers: the worker records the 200 just after.
            results: list[dict[str, Any]] = admin.get(url).json()["results"]
            return results if results and results[0]["status"] != "pending" else None

        deliveries = wait_until(recorded, what=f"the {fmt} delivery to be recorded")
        assert len(deliveries) == 1 and deliveries[0]["response_status"] == 200
        seen = next(line for line in lines if line["format"] == fmt)
        assert seen["delivery"] == deliveries[0]["id"]


def test_example_refuses_forgeries_and_skips_duplicates(example: tuple[Spawned, str]) -> None:
    process, base = example
    with httpx.Client(base_url=base, timeout=10) as http:
        for fmt in FORMATS:
            headers, body = signed(fmt, generate_secret("standard"), uuid.uuid4())
            forged = http.post(f"/webhooks/{fmt}", content=body, headers=headers)
            assert forged.status_code == 401, (fmt, forged.text)
            headers, body = signed(fmt, SECRET, uuid.uuid4())
            tampered = http.post(
                f"/webhooks/{fmt}", content=body.replace(b"92.5", b"12.5"), headers=headers
            )
            assert tampered.status_code == 401

            delivery_id = uuid.uuid4()
            headers, body = signed(fmt, SECRET, delivery_id)
            assert http.post(f"/webhooks/{fmt}", content=body, headers=headers).status_code == 200
            # The same delivery again (a retry): accepted, but flagged as a duplicate.
            assert http.post(f"/webhooks/{fmt}", content=body, headers=headers).status_code == 200
        received = http.get("/received").json()
    assert [(r["format"], r["duplicate"]) for r in received] == [
        (fmt, duplicate) for fmt in FORMATS for duplicate in (False, True)
    ]
    assert all(r["event"] == "task.red" for r in received)
    refused = process.wait_for_count(lambda text: '"verified":false' in text.replace(" ", ""), 6)
    assert len(refused) == 2 * len(FORMATS)


def test_examples_are_documented() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for name in (
        "flask_receiver.py",
        "fastapi_receiver.py",
        "express_receiver.js",
        "http_receiver.js",
    ):
        assert name in readme
    assert Path(EXAMPLES / "node" / "verify.js").is_file()
