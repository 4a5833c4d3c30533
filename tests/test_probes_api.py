"""The probes API, app in-process, real database: probe CRUD and its 422s, locations and their tokens, the
agent endpoints (a location's results count for that location only) and the public series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from downradar.store import make_engine
from downradar.store.schema import probe_results
from support.inprocess import start_in_process
from support.servers import LiveServer, make_settings

CATALOG = """
[[services]]
id = "acme"
name = "Acme"

  [[services.components]]
  id = "api"
  name = "API"
  [[services.components]]
  id = "web"
  name = "Website"

  [[services.probes]]
  id = "home"
  url = "http://127.0.0.1:9/"
  component = "web"
"""


def write_catalog(folder: Path) -> Path:
    path = folder / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    return path


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(
        db_url, catalog=write_catalog(tmp_path), probes=False, upstream=False, detect=False, deliver=False
    )
    server = start_in_process(settings)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client(headers=live.admin) as client:
        yield client


def fields_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["errors"]]


def new_probe(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"service": "acme", "id": "api-health", "url": "http://127.0.0.1:9/health", **fields}
    response = http.post("/api/v1/probes", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def new_location(http: httpx.Client, name: str) -> dict[str, str]:
    response = http.post("/api/v1/probe-locations", json={"name": name})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def result(probe: str, ts: datetime, ok: bool = True, **more: Any) -> dict[str, Any]:
    return {"probe": probe, "ts": ts.isoformat(), "ok": ok, "latency_ms": 12.5, "status_code": 200, **more}


def stored(live: LiveServer) -> list[tuple[str, str, bool]]:
    engine = make_engine(live.settings.db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(probe_results.c.probe_id, probe_results.c.location, probe_results.c.ok)
            )
            return sorted((p, loc, bool(ok)) for p, loc, ok in rows)
    finally:
        engine.dispose()


def test_probe_crud(http: httpx.Client) -> None:
    created = new_probe(http, component="api", interval_seconds=30, headers={"X-Key": "k"})
    assert created["id"] == "acme.api-health"
    assert created["source"] == "api" and created["enabled"] is True
    assert created["spec"]["interval_seconds"] == 30 and created["spec"]["headers"] == {"X-Key": "k"}

    again = http.post("/api/v1/probes", json={"service": "acme", "id": "api-health", "url": "http://x/"})
    assert again.status_code == 409 and "already exists" in again.json()["error"]

    listed = http.get("/api/v1/probes").json()["probes"]
    assert [(p["id"], p["source"]) for p in listed] == [("acme.api-health", "api"), ("acme.home", "catalog")]
    assert listed[0]["latest"] == {} and listed[0]["availability_24h"] is None

    changed = http.patch("/api/v1/probes/acme.api-health", json={"interval_seconds": 120, "enabled": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["spec"]["interval_seconds"] == 120 and changed.json()["enabled"] is False
    assert changed.json()["spec"]["url"] == "http://127.0.0.1:9/health"  # the rest stays
    assert http.get("/api/v1/probes/acme.api-health").json()["enabled"] is False

    assert http.delete("/api/v1/probes/acme.api-health").status_code == 204
    assert http.get("/api/v1/probes/acme.api-health").status_code == 404
    assert http.delete("/api/v1/probes/acme.api-health").status_code == 404

    actions = [e["action"] for e in http.get("/api/v1/audit", params={"entity": "probe"}).json()["entries"]]
    assert actions[:4] == ["probe.deleted", "probe.disabled", "probe.updated", "probe.created"]


def test_bad_probes_are_422_naming_the_field(http: httpx.Client) -> None:
    base = {"service": "acme", "id": "p1", "url": "http://127.0.0.1:9/"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "url": "ftp://example.com/"}, "url"),
        ({**base, "component": "billing"}, "component"),
        ({**base, "component": "Not A Slug"}, "component"),
        ({**base, "interval_seconds": 5, "timeout_seconds": 10}, "timeout_seconds"),
        ({**base, "expect_status": "2xx"}, "expect_status"),
        ({**base, "expect_status": "700"}, "expect_status"),
        ({**base, "colour": "red"}, "colour"),
        ({**base, "kind": "tcp", "url": None}, "host"),
        ({**base, "service": "nope"}, "service"),
        ({k: v for k, v in base.items() if k != "service"}, "service"),
        ({**base, "id": "Bad Id"}, "id"),
    ]
    for body, field in cases:
        response = http.post("/api/v1/probes", json=body)
        assert field in fields_of(response), (body, response.text)
        assert response.json()["error"]
    unknown = http.post("/api/v1/probes", json={**base, "colour": "red"}).json()["errors"]
    assert unknown == [{"field": "colour", "message": "unknown field"}]

    new_probe(http)
    patches: list[tuple[dict[str, Any], str]] = [
        ({"timeout_seconds": 100}, "timeout_seconds"),
        ({"expect_status": "abc"}, "expect_status"),
        ({"component": "billing"}, "component"),
        ({"enabled": "yes"}, "enabled"),
        ({"id": "renamed"}, "id"),
    ]
    for body, field in patches:
        response = http.patch("/api/v1/probes/acme.api-health", json=body)
        assert field in fields_of(response), (body, response.text)
    assert http.get("/api/v1/probes/acme.api-health").json()["spec"]["timeout_seconds"] == 10


def test_catalog_probes_can_be_disabled_not_deleted(http: httpx.Client) -> None:
    refused = http.delete("/api/v1/probes/acme.home")
    assert refused.status_code == 422
    assert "catalog" in refused.json()["error"] and "disable" in refused.json()["error"]
    assert http.patch("/api/v1/probes/acme.home", json={"url": "http://127.0.0.1:9/x"}).status_code == 422
    disabled = http.patch("/api/v1/probes/acme.home", json={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert http.get("/api/v1/probes/acme.home").json()["source"] == "catalog"


def test_location_token_is_shown_once(live: LiveServer, http: httpx.Client) -> None:
    created = http.post("/api/v1/probe-locations", json={"name": "eu"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert len(token) > 30

    listed = http.get("/api/v1/probe-locations")
    assert [x["name"] for x in listed.json()["locations"]] == ["eu"]
    assert token not in listed.text and token not in http.get("/api/v1/audit").text
    assert listed.json()["server_location"] == "local"

    assert http.post("/api/v1/probe-locations", json={"name": "eu"}).status_code == 409
    assert fields_of(http.post("/api/v1/probe-locations", json={"name": "local"})) == ["name"]
    assert fields_of(http.post("/api/v1/probe-locations", json={"name": "Not Slug"})) == ["name"]

    agent = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/v1/agent/probes", headers=agent).json()["location"] == "eu"
    assert http.get("/api/v1/probe-locations").json()["locations"][0]["last_seen_at"] is not None
    assert http.delete("/api/v1/probe-locations/eu").status_code == 204
    assert http.get("/api/v1/agent/probes", headers=agent).status_code == 401
    assert http.delete("/api/v1/probe-locations/eu").status_code == 404


def test_admin_endpoints_need_the_admin_token(live: LiveServer, http: httpx.Client) -> None:
    agent = new_location(http, "eu")
    with live.client() as anonymous:
        assert anonymous.get("/api/v1/probes").status_code == 401
        assert anonymous.get("/api/v1/probes", headers=agent).status_code == 403
        assert anonymous.post("/api/v1/probe-locations", json={"name": "x"}, headers=agent).status_code == 403


def test_agent_endpoints_need_a_location_token(live: LiveServer) -> None:
    with live.client() as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, live.admin, {"Authorization": "Basic eA=="}):
            assert client.get("/api/v1/agent/probes", headers=headers).status_code == 401
            posted = client.post("/api/v1/agent/results", json={"results": []}, headers=headers)
            assert posted.status_code == 401
            assert posted.json()["error"]


def test_agent_gets_its_probes_and_results_reach_the_series(live: LiveServer, http: httpx.Client) -> None:
    new_probe(http, id="us-only", locations=["us"])
    eu = new_location(http, "eu")
    mine = http.get("/api/v1/agent/probes", headers=eu).json()
    assert mine["location"] == "eu"
    assert sorted(mine["probes"]) == ["acme.home"]
    assert mine["probes"]["acme.home"]["url"] == "http://127.0.0.1:9/"

    now = datetime.now(UTC)
    batch = [result("acme.home", now - timedelta(seconds=s), ok=s != 20) for s in (0, 10, 20, 30)]
    posted = http.post("/api/v1/agent/results", json={"results": batch}, headers=eu)
    assert posted.status_code == 202 and posted.json() == {"accepted": 4}

    with live.client() as public:
        series = public.get("/api/v1/probes/acme.home/series", params={"minutes": 5})
        assert series.status_code == 200, series.text
        body = series.json()
        assert len(body["series"]) == 5
        assert sum(p["checks"] for p in body["series"]) == 4
        assert sum(p["failures"] for p in body["series"]) == 1
        assert set(body["latest"]) == {"eu"} and body["latest"]["eu"]["ok"] is True
        elsewhere = public.get("/api/v1/probes/acme.home/series", params={"minutes": 5, "location": "us"})
        assert sum(p["checks"] for p in elsewhere.json()["series"]) == 0
        assert public.get("/api/v1/probes/acme.nope/series").status_code == 404
        assert public.get("/api/v1/probes/acme.home/series", params={"minutes": 0}).status_code == 422

    listed = {p["id"]: p for p in http.get("/api/v1/probes").json()["probes"]}
    assert listed["acme.home"]["availability_24h"] == pytest.approx(0.75)
    assert listed["acme.home"]["latest"]["eu"]["ok"] is True


def test_results_count_for_the_tokens_location_only(live: LiveServer, http: httpx.Client) -> None:
    new_probe(http, id="us-only", locations=["us"])
    eu = new_location(http, "eu")
    new_location(http, "us")
    now = datetime.now(UTC)

    spoof = http.post(
        "/api/v1/agent/results", json={"results": [result("acme.home", now, location="us")]}, headers=eu
    )
    assert fields_of(spoof) == ["results.0.location"]
    assert (
        http.post(
            "/api/v1/agent/results", json={"results": [result("acme.us-only", now)]}, headers=eu
        ).status_code
        == 202
    )
    assert stored(live) == [("acme.us-only", "eu", True)]


def test_bad_results_are_refused_whole(live: LiveServer, http: httpx.Client) -> None:
    eu = new_location(http, "eu")
    now = datetime.now(UTC)
    batch = [
        result("acme.home", now),
        result("acme.gone", now),
        result("acme.home", now + timedelta(minutes=11)),
    ]
    response = http.post("/api/v1/agent/results", json={"results": batch}, headers=eu)
    assert fields_of(response) == ["results.1.probe", "results.2.ts"]
    naive = [result("acme.home", now.replace(tzinfo=None))]
    assert fields_of(http.post("/api/v1/agent/results", json={"results": naive}, headers=eu)) == [
        "results.0.ts"
    ]
    too_many = [result("acme.home", now)] * 5001
    assert fields_of(http.post("/api/v1/agent/results", json={"results": too_many}, headers=eu)) == [
        "results"
    ]
    assert stored(live) == []


def test_public_series_never_shows_where_or_with_what(live: LiveServer, http: httpx.Client) -> None:
    new_probe(
        http,
        url="http://127.0.0.1:9/?key=sekrit-1",
        headers={"Authorization": "Bearer sekrit-2"},
        body="sekrit-3",
    )
    with live.client() as public:
        series = public.get("/api/v1/probes/acme.api-health/series")
    assert series.status_code == 200
    assert "sekrit" not in series.text and "127.0.0.1" not in series.text
    assert series.json()["probe"]["id"] == "acme.api-health"
    audit = http.get("/api/v1/audit", params={"entity": "probe"}).text
    assert "sekrit-2" not in audit and "sekrit-3" not in audit
