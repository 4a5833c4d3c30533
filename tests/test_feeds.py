"""Atom and RSS history feeds, read back with feedparser as a feed reader would: every incident with its
timeline, newest first, user text escaped, narrowed to a service or a component; bad filters get a 404."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import feedparser
import httpx
import pytest

from support.databases import Databases
from support.servers import LiveServer, module_server

FEEDS = ("/history.atom", "/history.rss")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    yield from module_server(request, tmp_path_factory.mktemp("feeds"), databases)


@pytest.fixture(scope="module")
def incidents(live: LiveServer) -> Iterator[dict[str, str]]:
    """Two incidents on ChatGPT (login; conversations, then resolved) and one on GitHub."""
    with live.client() as http:

        def open_incident(service: str, name: str, components: dict[str, str], message: str) -> str:
            body = {"service": service, "name": name, "status": "investigating", "impact": "major",
                    "message": message, "components": components}  # fmt: skip
            response = http.post("/api/v1/incidents", json=body, headers=live.admin)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        login = open_incident(
            "chatgpt", "Login failures", {"login": "major_outage"}, "We are looking <b>now</b>."
        )
        chats = open_incident(
            "chatgpt", "Slow conversations", {"conversations": "degraded_performance"}, "Slow."
        )
        update = {"status": "identified", "message": "A bad deploy & a <script>alert(1)</script>."}
        assert http.post(f"/api/v1/incidents/{chats}/updates", json=update, headers=live.admin).is_success
        assert http.post(f"/api/v1/incidents/{chats}/resolve", headers=live.admin).is_success
        actions = open_incident("github", "Actions queued", {"actions": "partial_outage"}, "Queued.")
        yield {"login": login, "chats": chats, "actions": actions}
        for incident_id in (login, actions):
            http.post(f"/api/v1/incidents/{incident_id}/resolve", headers=live.admin)


def parsed(http: httpx.Client, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    kind = "atom" if path.endswith(".atom") else "rss"
    assert response.headers["content-type"].startswith(f"application/{kind}+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == ("atom10" if kind == "atom" else "rss20")
    return feed


@pytest.mark.parametrize("path", FEEDS)
def test_history_feed_lists_incidents_newest_first_with_their_timelines(
    live: LiveServer, incidents: dict[str, str], path: str
) -> None:
    with live.client() as http:
        feed = parsed(http, path)
    titles = [e.title for e in feed.entries]
    assert titles[:3] == ["Actions queued", "Slow conversations", "Login failures"]
    chats = feed.entries[1]
    assert chats.link == f"{live.base_url.rstrip('/')}/incidents/{incidents['chats']}"
    text = chats.content[0].value if path.endswith(".atom") else chats.description
    assert text.index("Resolved") < text.index("Identified") < text.index("Investigating")
    assert "&lt;script&gt;" in text and "<script>" not in text  # the update's text is escaped
    login = feed.entries[2].content[0].value if path.endswith(".atom") else feed.entries[2].description
    assert "&lt;b&gt;now&lt;/b&gt;" in login


@pytest.mark.parametrize("path", FEEDS)
def test_feeds_narrow_to_a_service_or_a_component(
    live: LiveServer, incidents: dict[str, str], path: str
) -> None:
    with live.client() as http:
        service = parsed(http, path, component="chatgpt")
        component = parsed(http, path, component="chatgpt.login")
        other = parsed(http, path, component="github.actions")
    assert [e.title for e in service.entries][:2] == ["Slow conversations", "Login failures"]
    assert "Actions queued" not in [e.title for e in service.entries]
    assert [e.title for e in component.entries] == ["Login failures"]
    assert service.feed.title.endswith(": ChatGPT") and "Login" in component.feed.title
    assert [e.title for e in other.entries] == ["Actions queued"]


@pytest.mark.parametrize("path", FEEDS)
def test_an_unknown_component_is_a_404_naming_it(live: LiveServer, path: str) -> None:
    with live.client() as http:
        response = http.get(path, params={"component": "nope.nothing"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "component"
    assert "nope.nothing" in response.json()["error"]
