"""Screenshots of the demo during its seed outage: the overview, the service page and the admin composer.

With DOWNRADAR_SCREENSHOTS=1 they are written to docs/screenshots/ (the README shows them); otherwise
under the test's tmp_path, so an ordinary run checks they can be made without touching the repository.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from support.browser import DESKTOP, require_browser, sign_in
from support.servers import LiveServer
from support.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Page

require_browser()

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def chatgpt_outage(http: httpx.Client) -> dict[str, Any] | None:
    """The incident Downradar opened on ChatGPT from the replayed reports, once there is one."""
    summary = http.get("/api/v2/summary.json").raise_for_status().json()
    ours = [i for i in summary["incidents"] if "ChatGPT" in i["name"] and "downradar" in i]
    return ours[0] if ours else None


def shoot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    width, height = png_size(path)
    assert width == DESKTOP["width"]
    assert height >= DESKTOP["height"]


def test_screenshots_of_the_demo_outage(page: Page, demo_site: LiveServer, screenshot_dir: Path) -> None:
    with demo_site.client() as http:
        eventually("Downradar's incident on ChatGPT", lambda: chatgpt_outage(http), 45)

    page.goto(demo_site.base_url + "/")
    shoot(page, screenshot_dir / "overview.png")

    page.goto(demo_site.base_url + "/services/chatgpt")
    assert page.get_by_role("heading", level=1, name="ChatGPT").is_visible()
    shoot(page, screenshot_dir / "service-outage.png")

    sign_in(page, demo_site, "/admin/incidents/new?service=chatgpt")
    shoot(page, screenshot_dir / "admin-composer.png")
