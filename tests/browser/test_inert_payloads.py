"""Script payloads in user text render as text in Chromium: no dialog opens, no element comes from them.

An incident update (operators' text, shown on every public page) and a reporter's comment (anyone's text,
shown on the service page) each carry a <script> and an <img onerror>. A payload that ran would open an
alert, which the `dialogs` fixture records; one parsed as markup would leave an <img src=x> in the DOM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from support.browser import api, require_browser
from support.servers import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

require_browser()

SCRIPT = "<script>alert('script ran')</script>"
IMG = "<img src=x onerror=\"alert('onerror ran')\">"
SERVICE = "chatgpt"


def assert_inert(page: Page, dialogs: list[str], where: str) -> None:
    # A broken image fails to load at once on 127.0.0.1; let any handler it has run before looking.
    page.wait_for_load_state("load")
    page.wait_for_timeout(200)
    assert dialogs == [], f"{where}: a payload ran"
    words = page.locator("body").inner_text()
    assert SCRIPT in words, f"{where}: the <script> text is not shown as text"
    assert IMG in words, f"{where}: the <img> text is not shown as text"
    assert page.locator("img[src=x]").count() == 0, f"{where}: the payload made an <img>"
    scripts = page.locator("script").evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert not [s for s in scripts if "ran')" in s], f"{where}: the payload made a <script>"


def test_an_incident_update_with_payloads_renders_inert(
    page: Page, dialogs: list[str], site: LiveServer
) -> None:
    incident = api(
        site,
        "POST",
        "/api/v1/incidents",
        json={
            "service": SERVICE,
            "name": "Errors on login",
            "status": "investigating",
            "impact": "major",
            "message": f"Looking into it. {SCRIPT}",
            "components": {"login": "major_outage"},
        },
    )
    api(
        site,
        "POST",
        f"/api/v1/incidents/{incident['id']}/updates",
        json={"status": "identified", "message": f"Found it. {IMG} {SCRIPT}"},
    )
    for path in ("/", f"/services/{SERVICE}", f"/incidents/{incident['id']}"):
        page.goto(site.base_url + path)
        assert_inert(page, dialogs, path)


def post_comment(site: LiveServer, service: str, text: str) -> None:
    with httpx.Client(base_url=site.base_url, timeout=10) as http:
        sent = http.post("/api/v1/reports", json={"service": service, "symptom": "error", "comment": text})
    assert sent.status_code == 202, sent.text


def test_a_comment_with_payloads_renders_inert_on_load_and_on_live_refresh(
    page: Page, dialogs: list[str], site: LiveServer
) -> None:
    comments = page.locator("section[aria-labelledby=h-comments]")

    # Live: the page is open when the comment arrives; static/live.js swaps it in without a reload (a tab
    # coming back into view refreshes at once, rather than after the usual interval).
    page.goto(f"{site.base_url}/services/{SERVICE}")
    assert "No comments in the last 24 hours." in comments.inner_text()
    post_comment(site, SERVICE, f"Broken for me {SCRIPT} {IMG}")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    comments.get_by_text("Broken for me").wait_for()
    assert_inert(page, dialogs, "the comments, live-refreshed")

    # On load: another service's page, first opened after its comment came (the page cache holds a page
    # for a few seconds after a report from the API, so reloading the first one might not show it yet).
    post_comment(site, "claude", f"Also broken {IMG} {SCRIPT}")
    page.goto(f"{site.base_url}/services/claude")
    assert comments.get_by_text("Also broken").is_visible()
    assert_inert(page, dialogs, "the comments, on load")
