"""Alert hygiene, end to end: the app (in-process) and real receivers on 127.0.0.1.

A storm of 50 services opening at once reaches each route as one grouped message (a webhook, a webhook for
ten of the services, an Apprise JSON route and a PagerDuty route), and their resolves are never
suppressed. A paging route gets one stable dedup key per (service, incident) and resolves the alert it
opened. Reminders repeat while an incident is open, and stop when it is resolved.

The grouping and reminder tests run the server on a FakeClock: group waits and repeat intervals pass when
the test moves the clock, and `step` waits until every loop the move woke is waiting on the clock again, so
"nothing more was sent" is decided by the clock, not by how long the test slept.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apprise.plugins.pagerduty
import httpx
import pytest

from downradar.core.clock import FakeClock
from downradar.incidents import lifecycle
from support.inprocess import start_in_process
from support.servers import ADMIN_TOKEN, FAST_DELIVERY, make_settings
from support.webhook_receiver import Receiver, wait_for

SECRET = "hygiene-secret-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SERVICES = 50
FAST = FAST_DELIVERY


def step(clock: FakeClock, seconds: float) -> None:
    """Move the server's clock, then wait until each loop it woke (the delivery worker among them) has
    done its round and is waiting on the clock again."""
    waiting, begun = clock.sleepers, clock.sleeps_begun
    woken = clock.advance(seconds)
    wait_for(
        lambda: clock.sleeps_begun >= begun + woken and clock.sleepers >= waiting,
        what="the server's loops to wait on the clock again",
    )


def storm_catalog(path: Path) -> Path:
    lines = ['[page]\nid = "storm"\nname = "Storm"\nurl = "http://127.0.0.1:8000"\n']
    for n in range(SERVICES):
        lines.append(
            f'[[services]]\nid = "svc{n:02d}"\nname = "Service {n:02d}"\n'
            f'  [[services.components]]\n  id = "api"\n  name = "API"\n'
        )
    path.write_text("\n".join(lines))
    return path


def add_route(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = http.post("/api/v1/alert-routes", headers=AUTH, json={"name": "ops", **fields})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def pagerduty(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A local stand-in for PagerDuty's Events API: Apprise's PagerDuty plugin posts to it."""
    with Receiver() as receiver:
        monkeypatch.setitem(apprise.plugins.pagerduty.PAGERDUTY_API_LOOKUP, "us", receiver.url)
        yield receiver


def test_a_storm_of_50_services_is_one_message_per_route(db_url: str, tmp_path: Path, pagerduty: Any) -> None:
    catalog = storm_catalog(tmp_path / "storm.toml")
    settings = make_settings(db_url, catalog=catalog, **{**FAST, "group_wait_seconds": 3})
    clock = FakeClock(datetime.now(UTC))
    with Receiver() as everything, Receiver() as ten, Receiver() as chat:
        server = start_in_process(settings, clock=clock)
        try:
            with server.client() as http:
                add_route(http, url=everything.url, secret=SECRET)
                add_route(http, url=ten.url, secret=SECRET, services=[f"svc{n:02d}" for n in range(10)])
                add_route(http, channel="apprise", url=chat.url.replace("http://", "json://"))
                add_route(http, channel="apprise", url="pagerduty://integrationkey@apikey/downradar")
            engine = server.runtime.engine
            now = server.runtime.clock.now
            incident_ids = []
            for n in range(SERVICES):  # as the detector does: one transaction per service, all at once
                with engine.begin() as conn:
                    incident_ids.append(
                        lifecycle.open_incident(
                            conn, service_id=f"svc{n:02d}", name="Errors", message="Users report errors.",
                            actor="detector", now=now(),
                        )
                    )  # fmt: skip
            step(clock, 2.9)  # within the group wait: nothing goes out yet
            held = [len(r.accepted()) for r in (everything, ten, chat, pagerduty)]
            step(clock, 0.1)
            for receiver in (everything, ten, chat, pagerduty):
                wait_for(lambda r=receiver: len(r.accepted()) >= 1, what="the storm message")
            step(clock, 3)  # nothing else is on its way
            storm = {"everything": everything.accepted(), "ten": ten.accepted(), "chat": chat.accepted()}
            storm_pages = pagerduty.accepted()

            for incident_id in incident_ids:
                with engine.begin() as conn:
                    lifecycle.resolve_incident(conn, incident_id, actor="detector", now=now())
            step(clock, 3)
            for receiver in (everything, ten, chat, pagerduty):
                wait_for(lambda r=receiver: len(r.accepted()) >= 2, what="the resolves")
            step(clock, 3)
        finally:
            server.stop()

    assert held == [0, 0, 0, 0]
    assert [len(got) for got in storm.values()] == [1, 1, 1]
    whole = storm["everything"][0].json
    assert whole["storm"] is True
    assert whole["title"].startswith("Correlated outage: 50 services affected — Service 00, Service 01")
    assert whole["title"].endswith("and 40 more")
    assert [e["incident_id"] for e in whole["events"]] == incident_ids
    assert {e["type"] for e in whole["events"]} == {"incident.opened"}
    part = storm["ten"][0].json
    assert part["storm"] is True and len(part["events"]) == 10
    assert part["title"].startswith("Correlated outage: 10 services affected")
    chat_body = storm["chat"][0].json
    assert chat_body["title"] == whole["title"] and "Service 49: Errors" in chat_body["message"]

    # PagerDuty: one page for the storm, then that same page resolved once every incident is.
    assert len(storm_pages) == 1
    trigger = storm_pages[0].json
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == f"downradar/storm/{incident_ids[0]}"
    resolves = [r.json for r in pagerduty.accepted()[1:]]
    assert [(r["event_action"], r["dedup_key"]) for r in resolves] == [("resolve", trigger["dedup_key"])]

    # Resolves are never suppressed: every route hears of all of them, grouped again.
    for receiver, count in ((everything, SERVICES), (ten, 10)):
        later = [r.json for r in receiver.accepted()[1:]]
        assert len(later) == 1
        assert [e["type"] for e in later[0]["events"]] == ["incident.resolved"] * count
    assert len(chat.accepted()) == 2 and chat.accepted()[1].json["type"] == "success"


def test_a_paging_route_keys_each_incident_and_resolves_it(
    db_url: str, pagerduty: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(db_url, **FAST)
    server = start_in_process(settings)
    try:
        with server.client() as http:
            route = add_route(http, channel="apprise", url="pagerduty://integrationkey@apikey/downradar")
            listed = http.get("/api/v1/alert-routes", headers=AUTH).json()
            audit = http.get("/api/v1/audit", headers=AUTH).json()
            ids = []
            for service in ("chatgpt", "github"):
                opened = http.post(
                    "/api/v1/incidents",
                    headers=AUTH,
                    json={"service": service, "name": "Errors", "message": "Looking.", "impact": "major"},
                )
                assert opened.status_code == 201, opened.text
                ids.append(opened.json()["id"])
            wait_for(lambda: len(pagerduty.accepted()) >= 2, what="two pages")
            update = http.post(f"/api/v1/incidents/{ids[0]}/updates", headers=AUTH, json={"message": "Fix."})
            assert update.status_code == 200
            wait_for(lambda: len(pagerduty.accepted()) >= 3, what="the update")
            assert http.post(f"/api/v1/incidents/{ids[0]}/resolve", headers=AUTH).status_code == 200
            wait_for(lambda: len(pagerduty.accepted()) >= 4, what="the resolve")
            time.sleep(0.5)
    finally:
        server.stop()
    sent = [(r.json["event_action"], r.json["dedup_key"]) for r in pagerduty.accepted()]
    first, second = (f"downradar/{s}/{i}" for s, i in zip(("chatgpt", "github"), ids, strict=True))
    assert sorted(sent[:2]) == sorted([("trigger", first), ("trigger", second)])
    assert sent[2:] == [("trigger", first), ("resolve", first)]
    # The Apprise URL's keys are never shown or logged.
    assert route["url"].startswith("pagerduty://****@****/")
    for shown in (route, listed, audit, caplog.text):
        assert "integrationkey" not in str(shown) and "apikey" not in str(shown)


def test_reminders_repeat_while_open_and_stop_at_the_resolve(db_url: str) -> None:
    settings = make_settings(db_url, **FAST)
    clock = FakeClock(datetime.now(UTC))
    with Receiver() as receiver:
        server = start_in_process(settings, clock=clock)
        try:
            with server.client() as http:
                add_route(http, url=receiver.url, secret=SECRET, repeat_interval_seconds=1)
                quiet = Receiver()
                with quiet:
                    add_route(http, url=quiet.url, secret=SECRET)  # no reminders: the default is off
                    opened = http.post(
                        "/api/v1/incidents",
                        headers=AUTH,
                        json={
                            "service": "chatgpt",
                            "name": "Errors",
                            "message": "Looking.",
                            "impact": "minor",
                        },
                    )
                    incident_id = opened.json()["id"]
                    step(clock, 0.1)
                    wait_for(lambda: len(receiver.accepted()) >= 1, what="the opening")
                    for _ in range(2):  # a repeat interval each
                        step(clock, 1)
                    wait_for(lambda: len(receiver.accepted()) >= 3, what="two reminders")
                    assert (
                        http.post(f"/api/v1/incidents/{incident_id}/resolve", headers=AUTH).status_code == 200
                    )
                    step(clock, 0.1)
                    wait_for(
                        lambda: any(
                            r.json["events"][-1]["type"] == "incident.resolved" for r in receiver.accepted()
                        ),
                        what="the resolve",
                    )
                    count = len(receiver.accepted())
                    for _ in range(3):  # three repeat intervals
                        step(clock, 1)
                    assert len(receiver.accepted()) == count  # no reminder after the resolve
                    quiet_bodies = [r.json for r in quiet.accepted()]
        finally:
            server.stop()
    bodies = [r.json for r in receiver.accepted()]
    assert bodies[0]["events"][0]["reminder"] is False
    reminders = [b for b in bodies if b["events"][0]["reminder"]]
    assert len(reminders) >= 2
    assert all(b["title"].startswith("Still open: ChatGPT: Errors") for b in reminders)
    assert [e["type"] for b in quiet_bodies for e in b["events"]] == ["incident.opened", "incident.resolved"]
