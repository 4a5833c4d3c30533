"""An operator in Chromium: signs in with the admin token, opens, updates and resolves an incident in the
admin UI, while a visitor's page (another browser context, no admin cookie) follows each step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from support.browser import DESKTOP, new_page, require_browser, sign_in
from support.servers import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

require_browser()

SERVICE = "chatgpt"
NAME = "Login failures for some users"


def words(page: Page) -> str:
    """The main content as a reader reads it, whitespace collapsed."""
    return " ".join(page.locator("main").inner_text().split())


@pytest.fixture
def visitor(browser: Browser) -> Iterator[Page]:
    yield from new_page(browser, DESKTOP)


def test_an_admin_opens_updates_and_resolves_an_incident_and_the_public_page_follows(
    page: Page, visitor: Page, site: LiveServer
) -> None:
    service_page = f"{site.base_url}/services/{SERVICE}"
    visitor.goto(service_page)
    assert NAME not in words(visitor)

    # Open: the composer, with one component marked down.
    sign_in(page, site, f"/admin/incidents/new?service={SERVICE}")
    page.locator("#incident-name").fill(NAME)
    page.locator("#incident-status").select_option("investigating")
    page.locator("#incident-impact").select_option("major")
    page.locator("#incident-components-login").select_option("major_outage")
    page.locator("#incident-message").fill("We are looking into failed sign-ins.")
    page.locator("#incident-submit").click()
    page.wait_for_url(re.compile(r"/admin/incidents/[^/?#]+(\?.*)?$"))
    incident_id = page.url.split("/admin/incidents/")[1].split("?")[0]
    assert page.locator("#incident-title").inner_text() == NAME

    visitor.goto(service_page)
    seen = words(visitor)
    assert NAME in seen
    assert "We are looking into failed sign-ins." in seen
    assert re.search(r"Login\s+Major outage", seen), seen[:600]

    # Update: identified, with a message of its own.
    page.locator("#update-status").select_option("identified")
    page.locator("#update-message").fill("A faulty configuration change; rolling it back.")
    page.locator("#update-submit").click()
    page.wait_for_load_state()
    assert page.locator("#incident-current-status").inner_text() == "Identified"

    visitor.goto(f"{site.base_url}/incidents/{incident_id}")
    seen = words(visitor)
    assert "Identified" in seen
    assert "A faulty configuration change; rolling it back." in seen

    # Resolve: the incident leaves the public pages' open lists; the component is operational again.
    page.locator("#resolve-message").fill("Sign-ins work again.")
    page.locator("#resolve-submit").click()
    page.wait_for_load_state()
    assert page.locator("#resolve-submit").count() == 0

    visitor.goto(f"{site.base_url}/incidents/{incident_id}")
    assert "Sign-ins work again." in words(visitor)
    assert "Resolved" in words(visitor)
    visitor.goto(service_page)
    seen = words(visitor)
    assert visitor.locator("#h-incidents").count() == 0, "the resolved incident is still listed as open"
    assert not re.search(r"Login\s+Major outage", seen)
    visitor.goto(site.base_url + "/")
    assert "All Systems Operational" in words(visitor)


def test_an_admin_sets_a_component_status_by_hand_and_the_public_pages_follow(
    page: Page, visitor: Page, site: LiveServer
) -> None:
    sign_in(page, site, f"/admin/services/{SERVICE}/components")
    page.locator("#manual-status-search").select_option("partial_outage")
    page.locator("#manual-submit").click()
    page.wait_for_load_state()
    claims = " ".join(page.locator("#component-claims-search").inner_text().split())
    assert claims.startswith("Partial outage: set by hand"), claims

    visitor.goto(f"{site.base_url}/services/{SERVICE}")
    assert re.search(r"Search\s+Partial outage", words(visitor))
    visitor.goto(site.base_url + "/")
    assert "All Systems Operational" not in words(visitor)

    # "Operational" removes the status set by hand; no incident was ever needed.
    page.locator("#manual-status-search").select_option("operational")
    page.locator("#manual-submit").click()
    page.wait_for_load_state()
    visitor.goto(site.base_url + "/")
    assert "All Systems Operational" in words(visitor)
