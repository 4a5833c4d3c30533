"""Real-browser fixtures: Debian's Chromium driven by Playwright (sync API) against a real Downradar server.

One browser for all the browser tests, a fresh page (its own context: cookies, viewport) per test, and a fresh
server on its own SQLite database per test, so every case starts from an empty page. Without
/usr/bin/chromium or the playwright package every browser test skips with one line, so `make test` still
passes on a laptop without Chromium.

Screenshots go to docs/screenshots/ when DOWNRADAR_SCREENSHOTS=1 (to refresh the README's images), else
under the test's tmp_path, so ordinary runs leave the repository clean.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DEMO_LEAD_IN,
    DEMO_SPEED,
    DESKTOP,
    QUIET,
    SCREENSHOTS,
    new_page,
)
from support.servers import LiveServer, make_settings, start_demo_server, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page, Playwright

T = TypeVar("T")


# Package scope, not session: while the sync API runs, the main thread has a running asyncio loop, so the
# rest of the suite's asyncio.run() would fail; it stops once the browser tests are done.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A desktop-sized page in a context of its own (no cookies shared between tests)."""
    yield from new_page(browser, DESKTOP)


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    """Every alert, confirm or prompt the page opens, dismissed at once: a payload that runs shows here."""
    seen: list[str] = []

    def record(dialog: Dialog) -> None:
        seen.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", record)
    return seen


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LiveServer]:
    """A real server on a fresh SQLite database, with the demo catalog and no background work."""
    live = start_server(make_settings(f"sqlite:///{tmp_path / 'browser.db'}", **QUIET))
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[LiveServer]:
    """The demo as `make run` serves it (the seed outage replayed, the provider's page scripted), but faster:
    a short lead-in and two days of history keep the detector's start-up learning short."""
    live, _ = start_demo_server(tmp_path, DEMO_LEAD_IN, DEMO_SPEED)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    if os.environ.get("DOWNRADAR_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path
