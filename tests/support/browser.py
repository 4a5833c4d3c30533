"""Helpers for the real-browser tests: Debian's Chromium driven by Playwright (sync API).

Without /usr/bin/chromium or the playwright package every browser module skips with one line
(`require_browser()`), so `make test` still passes on a laptop without Chromium.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from support import REPO
from support.servers import ADMIN_TOKEN, LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

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


def new_page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


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
