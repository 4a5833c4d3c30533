"""Probes from two locations and the provider's own page, end to end on a real server.

Two real agents ("eu" and "us") probe one real target; the target refuses only eu's network (eu's
requests come from 127.0.0.2), so the two locations disagree. A single bad location must not open an
incident; when both agree, one opens from probes alone. The provider's page (a real fake upstream on
127.0.0.1, polled by the server) still says operational: the honesty gap shows on the page and in the API.
When the page admits the outage, the gap closes and the incident records the acknowledgement delay.

Detection runs on an explicit clock set just past the results (a fresh LiveDetection reads the last hour
of stored evidence), so the test needn't wait for minute boundaries.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from downradar.core.catalog import load_catalog
from downradar.core.clock import FakeClock
from downradar.detection.live import LiveDetection
from downradar.probes.agent import Agent
from downradar.probes.checks import make_probe_client
from downradar.store.schema import incidents, probe_results
from support.probe_agents import AgentThread
from support.servers import LiveServer, make_settings, start_server
from support.upstream_server import FakeUpstream
from support.webhook_receiver import wait_for

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
FAST_AGENT: dict[str, Any] = {"refresh_seconds": 0.3, "flush_seconds": 0.1}


class Target:
    """The service under test: 503 to requests from `broken` source addresses, 200 to the others."""

    def __init__(self) -> None:
        self.broken: set[str] = set()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 503 if self.client_address[0] in target.broken else 200
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/health"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def summary(name: str, created_at: datetime | None = None) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    for incident in data.get("incidents", []):
        incident["created_at"] = (created_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return copy.deepcopy(data)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Target, FakeUpstream]]:
    target = Target()
    upstream = FakeUpstream()
    upstream.set_summary(summary("summary_operational.json"))
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f"""
[[services]]
id = "acme"
name = "Acme Chat"

  [[services.components]]
  id = "conversations"
  name = "Conversations"

  [[services.probes]]
  id = "health"
  name = "Health check"
  component = "conversations"
  url = "{target.url}"
  interval_seconds = 1
  timeout_seconds = 1
  fail_after = 2
  recover_after = 2

  [services.upstream]
  url = "{upstream.url}"
  kind = "statuspage"
  interval_seconds = 5
  components = {{ "Conversations" = "conversations" }}
"""
    )
    server = start_server(make_settings(db_url, catalog=catalog, detect=False, probes=False))
    try:
        yield server, target, upstream
    finally:
        server.stop()
        upstream.close()
        target.close()


def agent(server: LiveServer, http: httpx.Client, location: str, source: str) -> AgentThread:
    created = http.post("/api/v1/probe-locations", json={"name": location}, headers=server.admin)
    assert created.status_code == 201, created.text
    # The agent's checks leave from `source`: the target tells the locations apart by it.
    probe_client = make_probe_client(local_address=source)
    return AgentThread(
        Agent(server.base_url, created.json()["token"], location, probe_client=probe_client, **FAST_AGENT)
    )


def results_from(server: LiveServer, location: str, since: datetime) -> int:
    with server.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(probe_results.c.id).where(
                probe_results.c.location == location, probe_results.c.ts >= since
            )
        ).all()
    return len(rows)


def detect(server: LiveServer) -> LiveDetection:
    """Run detection over the stored evidence as of two minutes from now (every result's minute complete)."""
    clock = FakeClock(datetime.now(UTC) + timedelta(minutes=2))
    detection = LiveDetection(server.runtime.engine, load_catalog(server.settings.catalog), clock)
    detection.catch_up()
    return detection


def open_incidents(server: LiveServer) -> list[dict[str, Any]]:
    with server.runtime.engine.connect() as conn:
        rows = conn.execute(select(incidents).where(incidents.c.status != "resolved")).mappings().all()
    return [dict(r) for r in rows]


def acme_group(http: httpx.Client) -> dict[str, Any]:
    body = http.get("/api/v2/summary.json").json()
    return next(c for c in body["components"] if c["id"] == "acme")


def official_indicator(http: httpx.Client) -> str | None:
    return acme_group(http)["downradar"]["official_status"]["indicator"]


def checked(server: LiveServer, since: datetime, count: int) -> bool:
    return all(results_from(server, location, since) >= count for location in ("eu", "us"))


def test_quorum_opens_from_probes_and_the_honesty_gap_closes_when_the_provider_admits(
    world: tuple[LiveServer, Target, FakeUpstream],
) -> None:
    server, target, upstream = world
    with server.client() as http:
        wait_for(
            lambda: acme_group(http)["downradar"]["official_status"]["indicator"] == "none", 15, "first poll"
        )
        eu, us = agent(server, http, "eu", "127.0.0.2"), agent(server, http, "us", "127.0.0.1")
        with eu, us:
            # Only eu's network is broken: one bad location of two is no quorum.
            target.broken = {"127.0.0.2"}
            start = datetime.now(UTC)
            wait_for(
                lambda: results_from(server, "eu", start) >= 4 and results_from(server, "us", start) >= 4
            )
            detection = detect(server)
            verdict = next(v for v in detection.verdicts if v.probe == "acme.health")
            assert verdict.locations_down == ("eu",) and verdict.locations == ("eu", "us")
            assert not verdict.down and verdict.needed == 2
            assert open_incidents(server) == []

            # Both locations fail: the probe is down by quorum and an incident opens from probes alone.
            target.broken = {"127.0.0.1", "127.0.0.2"}
            both = datetime.now(UTC)
            wait_for(lambda: checked(server, both, 3))
            detect(server)
            (incident,) = open_incidents(server)
            assert incident["signals"] == ["probes"]
            assert incident["name"] == "Acme Chat fails our probes"
            page = http.get("/services/acme").text
            assert "Our probes fail; official status: operational" in page
            assert "Health check" in page and "down from 2 of 2 locations" in page
            group = acme_group(http)
            assert group["downradar"]["honesty_gap"] is True
            assert group["downradar"]["state"] == "Our probes fail; official status: operational"
            component = next(c for c in http.get("/api/v2/components.json").json()["components"]
                             if c["id"] == "acme.conversations")  # fmt: skip
            assert component["status"] == "major_outage"
            update = http.get("/api/v2/incidents/unresolved.json").json()["incidents"][0]
            assert (
                "Health check probe down from 2 of 2 locations (eu, us)"
                in update["incident_updates"][-1]["body"]
            )

            # The provider admits it: the next poll stores the change; detection records the acknowledgement.
            admitted = datetime.now(UTC).replace(microsecond=0)
            upstream.set_summary(summary("summary_major_outage.json", created_at=admitted))
            wait_for(
                lambda: acme_group(http)["downradar"]["official_status"]["indicator"] == "major", 15, "poll"
            )
            assert acme_group(http)["downradar"]["honesty_gap"] is False
            detect(server)
            (incident,) = open_incidents(server)
            assert incident["signals"] == ["probes", "official"]
            assert incident["acknowledged_at"] == admitted
            assert incident["impact"] == "critical"  # probes and the provider agree: raised a step
            listed = http.get("/api/v2/incidents/unresolved.json").json()["incidents"][0]["downradar"]
            assert listed["signals"] == ["probes", "official"]
            assert listed["acknowledgement_delay_minutes"] is not None
            assert "Elevated errors in ChatGPT conversations" in listed["acknowledgement"]
            assert "Signals that agree: probes, the official status page" in http.get("/services/acme").text
            official = http.get("/api/v1/services/acme/official").json()
            assert (
                official["watched"]
                and official["feed"]["reachable"]
                and official["feed"]["kind"] == "statuspage"
            )
            assert [c["indicator"] for c in official["changes"]] == ["none", "major"]
            assert official["current"]["components"] == {"conversations": "major_outage"}
            (ack,) = official["acknowledgement"]["incidents"]
            assert ack["incident_id"] == incident["id"] and ack["delay_minutes"] is not None
            assert http.get("/api/v1/services/nope/official").status_code == 404
