"""Headless Chromium through Playwright for the test session (pytest plugin).

Fixtures:
- ``chromium_browser`` (session): Debian's ``/usr/bin/chromium`` launched headless by
  Playwright's sync API (no Playwright-downloaded browser is needed), closed at session end.
- ``page`` (function): a page in a new browser context, closed after the test. When the test
  fails, a screenshot is saved as ``test-artifacts/screenshots/<test>-failure.png``.
- ``screenshot`` (function): ``screenshot(label)`` saves the current ``page`` as
  ``test-artifacts/screenshots/<test>-<label>.png`` and returns the path.

Helper: ``save_screenshot(page, test_name, label)``.

Tests using Chromium run after all other tests (see ``pytest_collection_modifyitems``), and
must be plain ``def`` tests: sync Playwright owns the thread's event loop while it is open.

Without Chromium, tests that need it are skipped outside CI and fail in CI (``CI`` set).
Tests using these fixtures get the ``browser`` marker, so ``-m "not browser"`` deselects them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_PATH = Path("/usr/bin/chromium")
# This machine's network is closed: without these, Chromium floods it with refused connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

_REPORT_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def screenshot_path(test_name: str, label: str) -> Path:
    safe = _UNSAFE.sub("_", f"{test_name}-{label}").strip("_")
    return SCREENSHOT_DIR / f"{safe}.png"


def save_screenshot(page: Page, test_name: str, label: str, *, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` under test-artifacts/screenshots/ and return its path."""
    path = screenshot_path(test_name, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright, shared by the whole session."""
    if not os.access(CHROMIUM_PATH, os.X_OK):
        _unavailable(
            f"{CHROMIUM_PATH} not found: install Debian's chromium and chromium-driver "
            "(bash .ci/run does)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in the dev extra
        _unavailable("playwright is not installed: pip install -e '.[dev]'")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM_PATH), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium_browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page in its own browser context; screenshotted if the test fails."""
    context = chromium_browser.new_context()
    try:
        new_page = context.new_page()
        yield new_page
        report = request.node.stash.get(_REPORT_KEY, {}).get("call")
        if report is not None and report.failed and not new_page.is_closed():
            save_screenshot(new_page, request.node.name, "failure")
    finally:
        context.close()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``screenshot(label)`` saves the test's ``page`` as <test name>-<label>.png."""

    def take(label: str) -> Path:
        return save_screenshot(page, request.node.name, label)

    return take


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark browser tests and move them, in their order, to the end of the session.

    While sync Playwright is open, its event loop counts as the thread's running loop, so an
    ``async def`` test or ``asyncio.run()`` after the first browser test would fail with
    "Cannot run the event loop while another loop is running". Running browser tests last
    (the browser stays open until the session ends) keeps every other test unaffected.
    """
    browser_items: list[pytest.Item] = []
    other_items: list[pytest.Item] = []
    for item in items:
        if "chromium_browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            browser_items.append(item)
        else:
            other_items.append(item)
    items[:] = other_items + browser_items


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORT_KEY, {})[report.when] = report
    return report
