"""The demo as a visitor sees it: a real server on the demo clock, with the scripted ChatGPT status page and
front door. Before the provider acknowledges the outage the page shows the honesty gap; afterwards the
incident carries the acknowledgement and its delay, and the front-door probe's failure joins the signals.

The demo runs at its own speed (60×, one demo minute per second) from a short lead-in; two days of history
instead of fourteen keep the detector's start-up learning short.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from downradar.demo.provider import (
    INCIDENT_NAME,
    ProviderScript,
)
from downradar.demo.traffic import DemoTraffic
from support.servers import LiveServer, start_demo_server
from support.waiting import eventually

SPEED = 60.0
LEAD_IN = timedelta(minutes=5)
GAP_TEXT = "Users report problems; official status: operational"
T = TypeVar("T")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[LiveServer, DemoTraffic]]:
    live, feed = start_demo_server(tmp_path, LEAD_IN, SPEED)
    try:
        yield live, feed
    finally:
        live.stop()


def chatgpt_view(http: httpx.Client) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The chatgpt group's `downradar` extension and our open chatgpt incident (if any), from summary.json."""
    summary = http.get("/api/v2/summary.json").raise_for_status().json()
    group = next(c for c in summary["components"] if c.get("group") and c["name"] == "ChatGPT")
    ours = [i for i in summary["incidents"] if "ChatGPT" in i["name"] and "downradar" in i]
    return group["downradar"], ours[0] if ours else None


def test_the_demo_shows_the_honesty_gap_then_the_acknowledgement_and_the_probe(
    demo: tuple[LiveServer, DemoTraffic],
) -> None:
    live, feed = demo
    with live.client() as http:
        # Before the provider acknowledges: our incident is open, its page says all is well.
        def in_gap() -> tuple[dict[str, Any], dict[str, Any], str] | None:
            group, incident = chatgpt_view(http)
            if not group["honesty_gap"] or incident is None:
                return None
            page = http.get("/services/chatgpt").text
            return (group, incident, page) if GAP_TEXT in page else None  # the gap may just have closed

        group, incident, page = eventually("the honesty gap on chatgpt", in_gap, 30)
        assert group["state"] == GAP_TEXT
        assert group["official_status"]["description"] == "All Systems Operational"
        assert group["official_status"]["admits_problem"] is False
        assert group["acknowledgement"] is None
        assert incident["downradar"]["acknowledged_at"] is None
        assert feed.onset is not None
        script = ProviderScript.for_traffic(feed, feed.onset)

        # After it acknowledges: the gap is gone, the incident records when and how late.
        def acknowledged() -> tuple[dict[str, Any], dict[str, Any]] | None:
            group, incident = chatgpt_view(http)
            if group["honesty_gap"] or incident is None or not incident["downradar"]["acknowledged_at"]:
                return None
            return group, incident

        group, incident = eventually("the provider's acknowledgement on our incident", acknowledged, 30)
        extension = incident["downradar"]
        assert datetime.fromisoformat(extension["acknowledged_at"]) == script.acknowledged_at
        assert INCIDENT_NAME in extension["acknowledgement"]
        delay = (script.acknowledged_at - datetime.fromisoformat(incident["created_at"])) / timedelta(
            minutes=1
        )
        assert extension["acknowledgement_delay_minutes"] == round(delay, 1)
        assert 0 < delay <= feed.episode["provider_acknowledged_after_minutes"]
        assert group["official_status"]["admits_problem"] is True
        assert group["state"] is None
        assert group["acknowledgement"]["grade"] == "A"  # under 15 min
        assert group["acknowledgement"]["acknowledged"] == group["acknowledgement"]["incidents"] == 1
        assert group["acknowledgement"]["average_delay_minutes"] == round(delay, 1)
        page = http.get("/services/chatgpt").text
        assert GAP_TEXT not in page
        assert "Acknowledgement grade" in page

        # The page is served with validators and honours them (the poller sends them back).
        provider = http.get("/demo/provider/chatgpt/api/v2/summary.json")
        assert provider.json()["demo"] is True
        assert provider.json()["incidents"][0]["name"] == INCIDENT_NAME
        etag = provider.headers["etag"]
        assert http.get(provider.url, headers={"If-None-Match": etag}).status_code == 304
        assert http.get(provider.url, headers={"If-None-Match": '"other"'}).status_code == 200

        # The front door fails during the worst of it: the probe goes down and joins the incident's signals.
        def probe_down() -> dict[str, Any] | None:
            _, incident = chatgpt_view(http)
            return incident if incident is not None and "probes" in incident["downradar"]["signals"] else None

        incident = eventually("the front-door probe among the incident's signals", probe_down, 20)
        assert incident["downradar"]["signals"][:2] == ["reports", "probes"]
        page = http.get("/services/chatgpt").text
        assert "Front door" in page
        assert "down from 1 of 1 locations" in page
