"""Operations: /healthz, Prometheus /metrics (reports by outcome, latency, open incidents) and OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.inprocess import start_in_process
from support.servers import LiveServer, make_settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(labels)[label]: v for (sample, labels), v in samples.items() if sample == name}


def report(http: httpx.Client, **fields: Any) -> int:
    return http.post("/api/v1/reports", json={"service": "chatgpt", **fields}).status_code


@pytest.fixture
def limited(db_url: str) -> Iterator[LiveServer]:
    live = start_in_process(make_settings(db_url, report_rate_limit="4/minute"))
    yield live
    live.stop()


def test_healthz_names_the_database_and_the_loops(client: httpx.Client, server: LiveServer) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok" and health["degraded"] == []
    assert health["database"] == server.settings.db.split(":")[0].split("+")[0]
    # The default settings run the detector, the delivery worker and the local probes.
    assert {"writer", "maintenance", "probe-pruning", "detection", "delivery", "probes"} <= set(
        health["loops"]
    )
    assert all(loop["state"] == "running" and loop["restarts"] == 0 for loop in health["loops"].values())


def test_reports_are_counted_by_outcome(limited: LiveServer) -> None:
    with limited.client() as http:
        assert value(scrape(http), "downradar_reports_total", outcome="accepted") == 0
        outcomes = [
            report(http, client="a"),
            report(http, client="a"),  # duplicate
            report(http, client="b"),
            report(http, region="Atlantis"),  # 422
            report(http, service="nosuch"),  # 404
            report(http, client="c"),  # the 4th report this minute from this address
            report(http, client="d"),  # 429
        ]
        assert outcomes == [202, 202, 202, 422, 404, 202, 429]
        lines = [{"service": "chatgpt", "ts": 1770196800, "client": c} for c in ("e", "f")] + [{"bad": 1}]
        body = b"\n".join(orjson.dumps(line) for line in lines)
        assert http.post("/api/v1/reports/bulk", content=body, headers=limited.admin).status_code == 202
        samples = scrape(http)
    assert labelled(samples, "downradar_reports_total", "outcome") == {
        "accepted": 5,
        "duplicate": 1,
        "rejected": 4,
    }


def test_request_latency_is_a_histogram_by_route_template(client: httpx.Client) -> None:
    for service in ("chatgpt", "claude", "github"):
        assert client.get(f"/api/v1/services/{service}/reports").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    samples = scrape(client)
    route = {"method": "GET", "route": "/api/v1/services/{service_id}/reports"}
    assert value(samples, "downradar_request_seconds_count", **route) == 3
    assert value(samples, "downradar_request_seconds_bucket", **route, le="+Inf") == 3
    assert value(samples, "downradar_request_seconds_sum", **route) > 0
    assert value(samples, "downradar_request_seconds_count", method="GET", route="unmatched") == 1
    routes = {
        dict(labels)["route"] for (name, labels) in samples if name == "downradar_request_seconds_count"
    }
    assert not any("chatgpt" in r for r in routes), "raw paths would make unbounded label values"


def test_open_incidents_gauge_by_service(server: LiveServer, client: httpx.Client) -> None:
    def open_incident(service: str) -> str:
        body = {"service": service, "name": "Errors", "message": "Looking into it."}
        response = client.post("/api/v1/incidents", json=body, headers=server.admin)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    assert labelled(scrape(client), "downradar_open_incidents", "service") == {}
    first, _, _ = open_incident("chatgpt"), open_incident("chatgpt"), open_incident("slack")
    maintenance = {
        "service": "github", "name": "Upgrade", "message": "Upgrading.",
        "scheduled_for": "2020-01-01T00:00:00Z", "scheduled_until": "2099-01-01T00:00:00Z",
    }  # fmt: skip
    assert client.post("/api/v1/maintenances", json=maintenance, headers=server.admin).status_code == 201
    assert labelled(scrape(client), "downradar_open_incidents", "service") == {"chatgpt": 2, "slack": 1}
    assert client.post(f"/api/v1/incidents/{first}/resolve", headers=server.admin).status_code == 200
    assert labelled(scrape(client), "downradar_open_incidents", "service") == {"chatgpt": 1, "slack": 1}


def test_page_cache_hits_are_counted_though_they_skip_the_latency_histogram(client: httpx.Client) -> None:
    before = labelled(scrape(client), "downradar_page_cache_requests_total", "outcome")
    for _ in range(5):
        assert client.get("/api/v2/status.json").status_code == 200
    samples = scrape(client)
    after = labelled(samples, "downradar_page_cache_requests_total", "outcome")
    assert after["render"] - before["render"] >= 1
    assert after["hit"] - before["hit"] + after["render"] - before["render"] == 5
    assert value(samples, "downradar_page_cache_entries") >= 1
    assert value(samples, "downradar_page_cache_bytes") > 0


V1_PATHS = {
    "/api/v1/reports": {"post"},
    "/api/v1/reports/bulk": {"post"},
    "/api/v1/services": {"get"},
    "/api/v1/services/{service_id}/reports": {"get"},
    "/api/v1/incidents": {"get", "post"},
    "/api/v1/incidents/{incident_id}": {"get", "patch"},
    "/api/v1/incidents/{incident_id}/updates": {"post"},
    "/api/v1/incidents/{incident_id}/resolve": {"post"},
    "/api/v1/maintenances": {"post"},
    "/api/v1/maintenances/{maintenance_id}": {"patch"},
    "/api/v1/audit": {"get"},
}
V2_PATHS = {
    f"/api/v2/{endpoint}": {"get"}
    for endpoint in (
        "summary.json",
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    )
}


def test_openapi_lists_the_v1_and_v2_api(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in {**V1_PATHS, **V2_PATHS, "/healthz": {"get"}, "/metrics": {"get"}}.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path
