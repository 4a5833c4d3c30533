"""`downradar run` serves over granian's RSGI interface (web/rsgi.py): page-cache hits are answered in one
call, everything else goes through the ASGI app over a bridge. The rest of the suite runs the app under
uvicorn; here the real `downradar run` process is asked what a browser, a monitor and a reporter ask.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from downradar.web.app import STATIC
from support.admin_forms import HTML, hidden
from support.processes import Server
from support.servers import ADMIN_TOKEN
from support.waiting import eventually

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("rsgi")
    running = Server(f"sqlite:///{folder / 'downradar.db'}", folder / "server.log")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def cache_counts(http: httpx.Client) -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(http.get("/metrics").text)
        for sample in family.samples
        if sample.name == "downradar_page_cache_requests_total"
    }


def test_cached_pages_come_back_byte_for_byte_with_304s_and_heads(http: httpx.Client) -> None:
    def cached_twice() -> tuple[httpx.Response, httpx.Response] | None:
        """Two GETs in a row, the second a hit. Just after start-up a change of the server's own (the
        detector's first tick, the catalog sync) may invalidate the page between them: ask again then."""
        first = http.get("/api/v2/summary.json")
        before = cache_counts(http)
        again = http.get("/api/v2/summary.json")
        return (first, again) if cache_counts(http)["hit"] == before["hit"] + 1 else None

    first, again = eventually("the second GET of summary.json is a cache hit", cached_twice, seconds=30)
    assert first.status_code == 200 and first.headers["server"] == "granian"
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == "application/json"
    assert again.headers["cache-control"] == "no-cache"
    assert int(again.headers["content-length"]) == len(again.content)

    unchanged = http.get("/api/v2/summary.json", headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == first.headers["etag"]

    head = http.head("/api/v2/summary.json")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(first.content))


def test_requests_with_credentials_are_not_answered_from_the_cache(http: httpx.Client) -> None:
    http.get("/")
    before = cache_counts(http)
    page = http.get("/", headers=ADMIN)
    assert page.status_code == 200 and "<html" in page.text
    assert cache_counts(http)["hit"] == before["hit"]


def test_reports_go_through_the_bridge_with_their_answers(http: httpx.Client) -> None:
    accepted = http.post("/api/v1/reports", json={"service": "chatgpt", "symptom": "login"})
    assert accepted.status_code == 202 and accepted.json()["id"] > 0
    unknown = http.post("/api/v1/reports", json={"service": "nope"})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "service"
    bad = http.post("/api/v1/reports", json={"service": "chatgpt", "symptom": 7})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "symptom"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bridge streams the body, the cap still holds
        for _ in range(40):
            yield b" " * 32_768

    too_big = http.post("/api/v1/reports", content=chunks(), headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and "limit" in too_big.json()["error"]


def test_a_bulk_body_over_a_megabyte_arrives_whole(http: httpx.Client) -> None:
    lines = [
        b'{"service":"claude","symptom":"slow","ts":"2026-01-01T00:00:00Z","client":"bulk-%d"}' % n
        for n in range(20_000)
    ]
    body = b"\n".join(lines) + b"\n"
    assert len(body) > 1 << 20
    answer = http.post(
        "/api/v1/reports/bulk", content=body, headers={**ADMIN, "Content-Type": "application/x-ndjson"}
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 20_000


def test_the_report_form_redirects_and_decoded_paths_route(http: httpx.Client) -> None:
    posted = http.post("/services/chatgpt/report", data={"symptom": "errors"})
    assert posted.status_code == 303
    assert re.search(r"/services/chatgpt\?reported=", posted.headers["location"])
    assert http.get("/services/chat%67pt").status_code == 200  # granian hands over the path decoded
    missing = http.get("/services/no-such-service")
    assert missing.status_code == 404 and "no-such-service" in missing.text


def test_static_files_stream_through_the_bridge(http: httpx.Client) -> None:
    served = http.get("/static/style.css")
    assert served.status_code == 200
    assert served.content == (Path(STATIC) / "style.css").read_bytes()


def test_the_admin_sign_in_sets_its_cookie_and_admin_pages_are_not_cached(http: httpx.Client) -> None:
    form = http.get("/admin/login", headers=HTML)
    assert form.status_code == 200
    signed_in = http.post(
        "/admin/login",
        data={"csrf_token": hidden(form.text), "token": ADMIN_TOKEN, "next": "/admin"},
        headers=HTML,
    )
    assert signed_in.status_code == 303, signed_in.text
    assert "downradar_admin=" in signed_in.headers["set-cookie"]
    dashboard = http.get("/admin", headers=HTML)
    assert dashboard.status_code == 200 and "Dashboard" in dashboard.text
    assert "no-store" in dashboard.headers["cache-control"]
