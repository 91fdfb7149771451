"""The web UI in a real browser (Debian's Chromium through Playwright) against a real
``planwire serve`` process with its delivery worker, delivering to a loopback receiver.

Screenshots of every page land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from planwire.verify import verify_trueppm
from tests.support.browser import save_screenshot
from tests.support.receiver import Receiver, Reply

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PLANWIRE = Path(sys.executable).with_name("planwire")
VIEWER_EMAIL = "vera.viewer@example.com"
VIEWER_PASSWORD = "viewer password 42"
STARTUP_LIMIT = 60.0


@dataclass
class Server:
    url: str
    token: str
    env: dict[str, str]

    def api(self, method: str, path: str, **kw: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``planwire serve`` (API, UI and delivery worker) on a temporary SQLite database."""
    port = _free_port()
    env = {
        **os.environ,
        "PLANWIRE_DATABASE_URL": f"sqlite:///{tmp_path / 'planwire.db'}",
        "PLANWIRE_ALLOW_PRIVATE_TARGETS": "true",
        "COLUMNS": "200",
    }
    env.pop("PLANWIRE_SECRET_KEY", None)
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen(
        [str(PLANWIRE), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "planwire serve did not start"
            time.sleep(0.1)
        token = re.search(r"pw_[A-Za-z0-9_-]{20,}", (tmp_path / "serve.log").read_text())
        assert token, (tmp_path / "serve.log").read_text()
        yield Server(url, token.group(0), env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def submit(page: Page, selector: str) -> None:
    """Click a form's submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def add_task(page: Page, name: str, days: int, resource: str = "") -> None:
    page.fill("#t-name", name)
    page.fill("#t-duration", str(days))
    page.fill("#t-resource", resource)
    submit(page, "#add-task button[type=submit]")
    assert page.locator(".flash.ok").inner_text() == f"Task “{name}” added."


def add_link(page: Page, predecessor: str, successor: str) -> None:
    page.select_option("#l-pred", label=predecessor)
    page.select_option("#l-succ", label=successor)
    submit(page, "#add-link button[type=submit]")
    assert page.locator(".flash.ok").inner_text() == "Link added."


def update_progress(page: Page, task: str, remaining: int, status: str) -> None:
    """The htmx progress form of ``task``'s row: the schedule is swapped in place."""
    row = page.locator("table.tasks tr", has=page.locator(f"strong:text-is('{task}')"))
    row.locator("input[name=remaining_duration]").fill(str(remaining))
    row.locator("select[name=status]").select_option(status)
    with page.expect_response(lambda response: response.url.endswith("/progress")):
        row.locator("button:text('Save')").click()
    page.locator(f"#schedule .flash.ok:text('Saved progress of “{task}”.')").wait_for()


def test_sign_in_plan_a_project_and_watch_a_webhook_deliver(
    server: Server,
    page: Page,
    chromium_browser: Browser,
    screenshot: Callable[[str], Path],
    request: pytest.FixtureRequest,
) -> None:
    page.set_viewport_size({"width": 1360, "height": 900})
    with Receiver() as receiver:
        # Sign in with the API token `planwire serve` printed on its first run.
        page.goto(server.url + "/ui")
        assert page.url.startswith(server.url + "/ui/login")
        screenshot("01-sign-in")
        page.fill("#password", "")
        page.fill("#token", server.token)
        submit(page, "button:text('Sign in')")
        assert page.url == server.url + "/ui/projects"

        # A project with tasks (two share a resource) and links.
        page.fill("#p-name", "Website relaunch")
        submit(page, "#new-project button[type=submit]")
        assert page.locator("h1").inner_text().startswith("Website relaunch")
        project_url = page.url
        for name, days, resource in (
            ("Design", 5, "Ann"),
            ("Build API", 8, "Bob"),
            ("Build UI", 6, "Ann"),
            ("Write docs", 3, "Cy"),
            ("Test", 4, "Bob"),
            ("Launch", 0, ""),
        ):
            add_task(page, name, days, resource)
        for predecessor, successor in (
            ("Design", "Build API"),
            ("Design", "Build UI"),
            ("Design", "Write docs"),
            ("Build API", "Test"),
            ("Build UI", "Test"),
            ("Test", "Launch"),
            ("Write docs", "Launch"),
        ):
            add_link(page, predecessor, successor)
        gantt = page.locator("svg.gantt")
        assert gantt.locator("g.task").count() == 5
        assert gantt.locator("polygon.milestone").count() == 1
        assert gantt.locator("polyline.arrow").count() == 7
        assert gantt.locator("g.task.on-chain").count() >= 3
        assert gantt.locator("g.buffer").count() >= 1

        # Planning -> Active records the baseline; progress then moves the fever chart.
        submit(page, "button[name=status][value=Active]")
        assert "The project is now Active." in page.locator(".flash.ok").inner_text()
        page.evaluate("window.__notReloaded = true")
        update_progress(page, "Design", 3, "InProgress")
        update_progress(page, "Design", 9, "InProgress")
        update_progress(page, "Build UI", 6, "InProgress")
        assert page.evaluate("window.__notReloaded") is True  # partial updates, no reload
        fever = page.locator("svg.fever")
        assert fever.locator("circle.history-point").count() >= 2
        assert fever.locator("g.current-point").count() == 1
        assert page.locator("polygon.zone-red").count() == 1
        page.evaluate("window.scrollTo(0, 0)")
        screenshot("02-project")

        # The project's Integrations: register a webhook to the loopback receiver.
        page.click("nav.tabs a:text('Integrations')")
        page.wait_for_load_state()
        screenshot("03-integrations-empty")
        page.click("a:text('Add webhook')")
        page.wait_for_load_state()
        page.fill("#w-url", receiver.url("/hook"))
        page.check("input[name=events_mode][value=some]")
        for event in ("task.updated", "task.status_changed", "schedule.recalculated"):
            page.check(f"input[name=events][value='{event}']")
        page.fill("#w-retry", "1, 2")
        page.click("button:text('Add a header row')")
        page.locator(".header-row").nth(2).wait_for()
        page.locator("input[name=header_name]").first.fill("X-Team")
        page.locator("input[name=header_value]").first.fill("web")
        screenshot("04-webhook-form")
        submit(page, "button:text('Create webhook')")
        secret = page.locator("#webhook-secret").inner_text().strip()
        assert len(secret) >= 24
        screenshot("05-webhook-created")
        submit(page, "a:text('go to the webhook')")
        webhook_url = page.url
        assert secret not in page.content()

        # A test event goes through the worker; the log refreshes itself until it lands.
        page.select_option("#test-event", "task.updated")
        submit(page, "button:text('Send test')")
        assert "Test task.updated event queued" in page.locator(".flash.ok").inner_text()
        page.locator("details.delivery[data-status=success]").first.wait_for(timeout=20_000)
        (delivered,) = receiver.wait_for(1)
        assert delivered.headers["X-Team"] == "web"
        assert verify_trueppm(secret, delivered.body, delivered.headers["X-TruePPM-Signature"])
        page.locator("details.delivery summary").first.click()
        assert page.locator("details.delivery[open] .attempt.ok").count() == 1
        assert secret not in page.content()
        screenshot("06-webhook-delivered")

        # The receiver fails three times: the delivery fails after its retries (1 s, 2 s);
        # redelivering it by hand succeeds, with the same delivery id.
        receiver.enqueue("/hook", *[Reply(status=500, body=b"receiver down")] * 3)
        page.select_option("#test-event", "task.status_changed")
        submit(page, "button:text('Send test')")
        failed = page.locator("details.delivery[data-status=failed]")
        failed.wait_for(timeout=30_000)
        delivery_id = failed.get_attribute("id")
        failed.locator("summary").click()
        assert failed.locator(".attempt.bad").count() == 3
        assert "receiver down" in failed.locator(".attempt.bad").first.inner_text()
        screenshot("07-webhook-failed")
        submit(page, f"#{delivery_id} button:text('Redeliver')")
        assert "Redelivery queued" in page.locator(".flash.ok").inner_text()
        page.locator(f"#{delivery_id}[data-status=success]").wait_for(timeout=30_000)
        ids = {r.headers["X-Planwire-Delivery"] for r in receiver.wait_for(5)[1:]}
        assert ids == {delivery_id.removeprefix("delivery-")}

        # Pause: a project change sends nothing; resume: the next one arrives.
        submit(page, "button:text('Pause')")
        assert page.locator(".badge.wh-paused").count() == 1
        screenshot("08-webhook-paused")
        logged = page.locator("details.delivery").count()
        page.goto(project_url)
        update_progress(page, "Build API", 7, "InProgress")
        page.goto(webhook_url)
        assert page.locator("details.delivery").count() == logged
        submit(page, "button:text('Resume')")
        assert page.locator(".badge.wh-active").count() == 1
        page.goto(project_url)
        update_progress(page, "Build API", 6, "InProgress")
        page.goto(webhook_url)
        page.locator(
            "details.delivery[data-status=success] code:text('schedule.recalculated')"
        ).wait_for(timeout=20_000)
        assert page.locator("details.delivery").count() > logged
        events = {r.headers["X-Planwire-Event"] for r in receiver.requests}
        assert events >= {"task.updated", "task.status_changed", "schedule.recalculated"}
        page.goto(page.url.split("/integrations")[0] + "/integrations")
        assert page.locator("table.webhooks .badge.wh-active").count() == 1
        screenshot("09-integrations")

        # The organization's account webhooks page.
        page.click("nav a:text('Account webhooks')")
        page.wait_for_load_state()
        screenshot("10-account-webhooks")

    # A Viewer signs in with a password and sees the schedule without any edit control.
    created = server.api(
        "POST",
        "/api/v1/users/",
        json={"email": VIEWER_EMAIL, "name": "Vera Viewer", "password": VIEWER_PASSWORD},
    )
    assert created.status_code == 201, created.text
    viewer_id = created.json()["id"]
    project_id = project_url.rsplit("/", 1)[1]
    added = server.api(
        "POST", f"/api/v1/projects/{project_id}/members/", json={"user_id": viewer_id, "role": 1}
    )
    assert added.status_code == 201, added.text
    context = chromium_browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        viewer = context.new_page()
        viewer.goto(server.url + "/ui/login")
        viewer.fill("#email", VIEWER_EMAIL)
        viewer.fill("#password", "wrong")
        submit(viewer, "button:text('Sign in')")
        assert "Wrong email or password." in viewer.locator(".flash.error").inner_text()
        viewer.fill("#password", VIEWER_PASSWORD)
        submit(viewer, "button:text('Sign in')")
        viewer.goto(project_url)
        assert viewer.locator("svg.gantt g.task").count() == 5
        assert viewer.locator("form.progress-form").count() == 0
        assert viewer.locator("#add-task, #add-link, button[name=status]").count() == 0
        save_screenshot(viewer, request.node.name, "11-viewer-project")
    finally:
        context.close()


def test_the_pages_fit_a_phone(
    server: Server, page: Page, screenshot: Callable[[str], Path]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/ui/login")
    page.fill("#token", server.token)
    submit(page, "button:text('Sign in')")
    page.fill("#p-name", "Phone check")
    submit(page, "#new-project button[type=submit]")
    page.fill("#t-name", "Only task")
    page.fill("#t-duration", "3")
    submit(page, "#add-task button[type=submit]")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px"
    screenshot("phone-project")


def test_the_forms_work_without_javascript(
    server: Server, chromium_browser: Browser, request: pytest.FixtureRequest
) -> None:
    context = chromium_browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + "/ui/login")
        page.fill("#token", server.token)
        submit(page, "button:text('Sign in')")
        page.fill("#p-name", "No script")
        submit(page, "#new-project button[type=submit]")
        add_task(page, "Plain form", 4)
        row = page.locator("table.tasks tr", has=page.locator("strong:text-is('Plain form')"))
        row.locator("input[name=remaining_duration]").fill("2")
        row.locator("select[name=status]").select_option("InProgress")
        submit(page, "table.tasks button:text('Save')")
        assert page.locator(".flash.ok").inner_text() == "Saved progress of “Plain form”."
        assert page.locator("table.tasks input[name=remaining_duration]").input_value() == "2"
        save_screenshot(page, request.node.name, "no-javascript")
    finally:
        context.close()
