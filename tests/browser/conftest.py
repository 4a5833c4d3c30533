"""Real-browser fixtures: Debian's Chromium driven by Playwright (sync API) against a real Downradar server.

One browser for all the browser tests, a fresh page (its own context: cookies, viewport) per test, and a fresh
server on its own SQLite database per test, so every case starts from an empty page. Without
/usr/bin/chromium or the playwright package every browser test skips with one line, so `make test` still
passes on a laptop without Chromium.

Screenshots go to docs/screenshots/ when DOWNRADAR_SCREENSHOTS=1 (to refresh the README's images), else
under the test's tmp_path, so ordinary runs leave the repository clean.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from support import REPO
from support.servers import ADMIN_TOKEN, LiveServer, make_settings, start_demo_server, start_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page, Playwright

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
# This machine's network is closed: without these, Chromium's background services flood refused connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
SCREENSHOTS = REPO / "docs" / "screenshots"
# Nothing in the page should take long on 127.0.0.1; a failure should say so within seconds, not 30.
TIMEOUT_MS = 5_000
# The plain server does no background work: no detector, probes, provider pages or deliveries.
DEMO_SPEED = 60.0  # demo minutes per real second
DEMO_LEAD_IN = timedelta(minutes=5)  # quiet demo minutes before the outage's onset
QUIET = {"detect": False, "probes": False, "upstream": False, "deliver": False}


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "browser tests need the playwright package (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


MISSING = _missing()


def require_browser() -> None:
    """Each browser test module calls this first: without Chromium or playwright the module skips, and as
    every module skips from this one line, the summary says so once (a skip at this conftest's import would
    crash `pytest tests/browser`, where it is loaded before collection)."""
    if MISSING:
        pytest.skip(MISSING, allow_module_level=True)


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


def new_page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


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


def api(live: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    """One admin-authorised JSON API call; fails the test on anything but 2xx."""
    with httpx.Client(base_url=live.base_url, timeout=10) as http:
        response = http.request(method, path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, **kwargs)
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text[:300]}"
    return response.json()


def sign_in(page: Page, live: LiveServer, next_path: str = "/admin") -> None:
    """Sign in to the admin UI the way an operator does: the login form, with the admin token."""
    page.goto(f"{live.base_url}/admin/login?next={next_path}")
    page.locator("[name=token]").fill(ADMIN_TOKEN)
    page.locator("form [type=submit]").first.click()
    page.wait_for_url(f"{live.base_url}{next_path}*")
