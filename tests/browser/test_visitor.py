"""A visitor in Chromium: reports a problem and sees the count rise, on a phone-width screen, by keyboard.

Each case runs against a real server on a fresh SQLite database (fixtures in tests/browser/conftest.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from support.browser import PHONE, api, new_page, require_browser
from support.servers import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

require_browser()

SERVICE = "chatgpt"
COUNT = re.compile(r"(\d+) reports? in the last 24 hours")


def reports_shown(page: Page) -> int:
    """The number of reports the service page says it had in the last 24 hours, as a reader reads it."""
    words = " ".join(page.locator("main").inner_text().split())
    if "No problem reports in the last 24 hours" in words:
        return 0
    found = COUNT.search(words)
    assert found, f"no report count on the page: {words[:400]}"
    return int(found.group(1))


def symptom_controls(page: Page) -> Locator:
    """The report form's symptom choices: radio buttons or buttons, whichever the page uses."""
    return page.locator("#report [name=symptom]")


def send_report(page: Page) -> None:
    """Pick the first symptom and send, as a visitor does: a button submits by itself, a radio needs Send."""
    first = symptom_controls(page).first
    if first.get_attribute("type") == "radio":
        first.check()
        page.locator("#report [type=submit]").last.click()
    else:
        first.click()
    page.wait_for_load_state()


def test_a_visitor_reports_a_problem_and_sees_the_count_rise(page: Page, site: LiveServer) -> None:
    page.goto(f"{site.base_url}/services/{SERVICE}")
    assert reports_shown(page) == 0

    send_report(page)

    assert page.get_by_role("status").filter(has_text="report has been received").is_visible()
    assert reports_shown(page) == 1
    # The page agrees with the API: the report was stored, not just acknowledged.
    assert api(site, "GET", f"/api/v1/services/{SERVICE}/reports")["total_reports"] == 1


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from new_page(browser, PHONE)


@pytest.mark.parametrize("path", ["/", f"/services/{SERVICE}"])
def test_pages_fit_a_375_px_screen(phone: Page, site: LiveServer, path: str) -> None:
    # An open incident puts the widest things on the page: a banner, a card with its timeline.
    api(
        site,
        "POST",
        "/api/v1/incidents",
        json={
            "service": SERVICE,
            "name": "Elevated error rates on conversations and image generation",
            "status": "investigating",
            "impact": "major",
            "message": "We are investigating reports of errors for some users.",
            "components": {"login": "major_outage"},
        },
    )
    phone.goto(site.base_url + path)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} scrolls sideways: {width} px wide"


def test_the_report_form_works_at_375_px(phone: Page, site: LiveServer) -> None:
    phone.goto(f"{site.base_url}/services/{SERVICE}")
    symptoms = symptom_controls(phone)
    assert symptoms.count() >= 2
    for index in range(symptoms.count()):
        control = symptoms.nth(index)
        control.scroll_into_view_if_needed()
        # Each symptom is on screen, with nothing over it (Playwright's actionability checks, no click).
        control.click(trial=True)
        box = control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    send_report(phone)
    assert reports_shown(phone) == 1


def test_keyboard_reaches_the_report_form_with_focus_visible(page: Page, site: LiveServer) -> None:
    page.goto(f"{site.base_url}/services/{SERVICE}")
    page.locator("body").focus()
    reached: list[str] = []
    for _ in range(200):  # far more stops than the page has links and controls
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const el = document.activeElement;
                return {
                    inForm: !!el.closest('#report form'),
                    name: el.getAttribute('name') || '',
                    type: el.getAttribute('type') || el.tagName.toLowerCase(),
                    visible: el.matches(':focus-visible'),
                    outline: getComputedStyle(el).outlineStyle,
                    shadow: getComputedStyle(el).boxShadow,
                };
            }"""
        )
        if focused["inForm"] and (focused["name"] == "symptom" or focused["type"] == "submit"):
            break
        reached.append(focused["type"])
    else:
        pytest.fail(f"200 Tabs never reached the report form; went through {reached[:40]}")
    # The browser shows where the keyboard is: :focus-visible holds and the style draws a ring.
    assert focused["visible"]
    assert focused["outline"] != "none" or focused["shadow"] != "none"
    # And the keyboard can use it: Space picks (or presses) the focused symptom.
    page.keyboard.press("Space")
    if focused["type"] == "radio":
        assert page.evaluate("document.activeElement.checked")
