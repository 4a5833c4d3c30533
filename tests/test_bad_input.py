"""Bad input gets a clear 4xx naming the problem, and leaves nothing half-written in the database.

Every rejection here is checked against a snapshot of the database taken just before it. The cases share
one server per backend (they only ever read, or write what they assert), which keeps the file fast.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, func, select

from downradar.store import make_engine
from downradar.store.schema import (
    audit_log,
    components,
    incident_components,
    incident_updates,
    incidents,
    report_minutes,
    reports,
)
from support.databases import Databases
from support.servers import LiveServer, module_server

REPORTS = "/api/v1/reports"
BULK = "/api/v1/reports/bulk"
INGEST_TOKEN = "test-ingest-token"
TABLES = (reports, report_minutes, incidents, incident_updates, incident_components, audit_log)
SINGLE_LIMIT = 1 << 20
BULK_LIMIT = 16 << 20
INCIDENT = {
    "service": "chatgpt",
    "name": "Elevated errors",
    "status": "investigating",
    "impact": "major",
    "message": "We are investigating.",
    "components": {"login": "major_outage"},
}
MAINTENANCE = {
    "service": "github",
    "name": "Database upgrade",
    "message": "We will upgrade the database.",
    "scheduled_for": "2099-01-01T10:00:00Z",
    "scheduled_until": "2099-01-01T12:00:00Z",
    "components": ["actions"],
}


# -- one server per backend for the whole module ---------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("bad-input")
    yield from module_server(request, folder, databases, ingest_token=INGEST_TOKEN)


@pytest.fixture(scope="module")
def db(live: LiveServer) -> Iterator[Engine]:
    engine = make_engine(live.settings.db)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


@pytest.fixture
def unchanged(db: Engine) -> Iterator[None]:
    """The test's requests must leave every table exactly as they found it."""
    before = snapshot(db)
    yield
    assert snapshot(db) == before, "a rejected request changed the database"


# -- helpers ----------------------------------------------------------------------------------------------


def snapshot(db: Engine) -> dict[str, Any]:
    with db.connect() as conn:
        counts = {
            table.name: conn.scalar(select(func.count()).select_from(table))
            for table in (
                reports,
                report_minutes,
                incidents,
                incident_updates,
                incident_components,
                audit_log,
            )
        }
        statuses = dict(conn.execute(select(components.c.id, components.c.status)).all())
    return {"counts": counts, "component_statuses": statuses}


def stored_reports(db: Engine, client: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(select(reports).where(reports.c.client == client).order_by(reports.c.id))
        return [dict(row) for row in rows.mappings()]


def send(http: httpx.Client, path: str, body: Any, method: str = "POST", **kwargs: Any) -> httpx.Response:
    """Bytes go out as they are; anything else as JSON."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return http.request(method, path, content=content, headers=headers, **kwargs)


def assert_names_problem(response: httpx.Response, status: int, field: str | None, words: str) -> None:
    """A `status` reply whose one-line error (and, when a field is at fault, its errors list) says `words`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert words in body["error"], body
    if field is not None:
        assert any(e["field"] == field and words in e["message"] for e in body["errors"]), body


def ndjson(*lines: Any) -> bytes:
    return b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines)


def in_pieces(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def bulk_line(client: str, **fields: Any) -> dict[str, Any]:
    return {"ts": "2026-02-04T09:20:00Z", "service": "chatgpt", "client": client, **fields}


def fresh_client() -> str:
    return f"test-{secrets.token_hex(6)}"


# -- single reports ---------------------------------------------------------------------------------------

OK = {"service": "chatgpt", "component": "login", "region": "US-CA", "symptom": "login"}

BAD_REPORTS = [
    pytest.param(b'{"service": "chatgpt", ', "body", "not valid JSON", id="malformed-json"),
    pytest.param(b"", "body", "not valid JSON", id="empty-body"),
    pytest.param(b'["chatgpt"]', "body", "must be a JSON object", id="json-array"),
    pytest.param(b'"chatgpt"', "body", "must be a JSON object", id="json-string"),
    pytest.param(b'{"service": "chatgpt", "comment": "\xff\xfe"}', "body", "not valid JSON", id="bad-utf8"),
    pytest.param(
        b'{"service": "chatgpt", "comment": "\\ud800"}', "body", "not valid JSON", id="lone-surrogate"
    ),
    pytest.param({"service": 42}, "service", "valid string", id="service-number"),
    pytest.param({**OK, "component": ["login"]}, "component", "valid string", id="component-list"),
    pytest.param({**OK, "comment": {"text": "hi"}}, "comment", "valid string", id="comment-object"),
    pytest.param({**OK, "client": ""}, "client", "at least 1 character", id="client-empty"),
    pytest.param({**OK, "client": "c" * 129}, "client", "at most 128 characters", id="client-long"),
    pytest.param({"component": "login"}, "service", "Field required", id="service-missing"),
    pytest.param({**OK, "severity": "high"}, "severity", "unknown field", id="unknown-field"),
    pytest.param({**OK, "service": "ChatGPT"}, "service", "slug", id="service-uppercase"),
    pytest.param({**OK, "service": "chat gpt"}, "service", "slug", id="service-space"),
    pytest.param({**OK, "service": "chatgpt\n"}, "service", "slug", id="service-newline"),
    pytest.param({**OK, "service": "a" * 65}, "service", "slug", id="service-65-chars"),
    pytest.param({**OK, "component": "log_in"}, "component", "slug", id="component-underscore"),
    pytest.param({**OK, "symptom": "cannot load"}, "symptom", "slug", id="symptom-space"),
    pytest.param({**OK, "region": "XX"}, "region", "ISO 3166", id="region-unknown-country"),
    pytest.param({**OK, "region": "USA"}, "region", "ISO 3166", id="region-alpha-3"),
    pytest.param({**OK, "region": "US-ZZ"}, "region", "ISO 3166", id="region-unknown-subdivision"),
    pytest.param({**OK, "region": "US\n"}, "region", "ISO 3166", id="region-newline"),
    pytest.param({**OK, "region": "United States"}, "region", "ISO 3166", id="region-name"),
    pytest.param({**OK, "region": 840}, "region", "valid string", id="region-number"),
    pytest.param({**OK, "comment": "down\x00again"}, "comment", "control characters", id="comment-nul"),
    pytest.param({**OK, "comment": "\x1b[2Jgone"}, "comment", "control characters", id="comment-escape"),
    pytest.param({**OK, "comment": "bell\x07"}, "comment", "control characters", id="comment-bel"),
    pytest.param({**OK, "comment": "del\x7f"}, "comment", "control characters", id="comment-del"),
    pytest.param({**OK, "comment": "c1\x85"}, "comment", "control characters", id="comment-c1"),
    pytest.param({**OK, "client": "me\x00"}, "client", "control characters", id="client-nul"),
    pytest.param(
        {**OK, "comment": "😀" * 1024}, "comment", "at most 1000 characters", id="comment-4kB-emoji"
    ),
    pytest.param({**OK, "ts": "2026-02-04T09:20:00Z"}, "ts", "not accepted here", id="ts-on-live-endpoint"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("body", "field", "words"), BAD_REPORTS)
def test_bad_report_is_rejected_naming_the_problem(http: httpx.Client, body: Any, field: str, words: str):
    assert_names_problem(send(http, REPORTS, body), 422, field, words)


@pytest.mark.usefixtures("unchanged")
def test_report_for_an_unknown_service_is_404_naming_it(http: httpx.Client) -> None:
    assert_names_problem(send(http, REPORTS, {**OK, "service": "nosuch"}), 404, "service", "'nosuch'")


@pytest.mark.usefixtures("unchanged")
def test_summary_of_an_unknown_service_is_404_naming_it(http: httpx.Client) -> None:
    assert_names_problem(http.get("/api/v1/services/nosuch/reports"), 404, None, "'nosuch'")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("hours", ["0", "337", "day"])
def test_summary_with_bad_hours_is_422(http: httpx.Client, hours: str) -> None:
    assert_names_problem(http.get(f"/api/v1/services/chatgpt/reports?hours={hours}"), 422, "hours", "")


def padded(report: dict[str, Any], size: int) -> bytes:
    """A valid report followed by whitespace, `size` bytes in all."""
    data = orjson.dumps(report)
    return data + b" " * (size - len(data))


def valid_report(path: str, client: str) -> dict[str, Any]:
    return bulk_line(client) if path == BULK else {**OK, "client": client}


LIMITS = pytest.mark.parametrize(
    ("path", "limit"), [(REPORTS, SINGLE_LIMIT), (BULK, BULK_LIMIT)], ids=["single-1MB", "bulk-16MB"]
)


@pytest.mark.usefixtures("unchanged")
@LIMITS
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413(live: LiveServer, http: httpx.Client, path: str, limit: int, chunked: bool):
    body = padded(valid_report(path, fresh_client()), limit + 1)
    response = http.post(path, content=in_pieces(body) if chunked else body, headers=live.admin)
    assert_names_problem(response, 413, None, "too large")
    assert str(limit) in response.json()["error"]
    assert ("content-length" in response.request.headers) is not chunked


@LIMITS
def test_a_body_exactly_at_the_limit_is_accepted(live, http, db, path: str, limit: int) -> None:
    client = fresh_client()
    body = padded(valid_report(path, client), limit)
    response = http.post(path, content=in_pieces(body), headers=live.admin)
    assert response.status_code == 202, response.text
    assert len(stored_reports(db, client)) == 1


def test_comment_limit_counts_characters_not_bytes(http: httpx.Client, db: Engine) -> None:
    client, comment = fresh_client(), "👩‍💻" * 333 + "!"  # 1000 code points, 3664 bytes of UTF-8
    response = send(http, REPORTS, {**OK, "client": client, "comment": comment})
    assert response.status_code == 202, response.text
    assert [r["comment"] for r in stored_reports(db, client)] == [comment]


# -- bulk intake ------------------------------------------------------------------------------------------


def test_bulk_accepts_good_lines_and_reports_bad_ones_by_line_number(
    live: LiveServer, http: httpx.Client, db: Engine
) -> None:
    client = fresh_client()
    body = ndjson(
        bulk_line(client, component="login"),  # 1 good
        bulk_line(client, ts="2026-02-04T09:20:00"),  # 2 naive timestamp
        b"",  # 3 blank: skipped, still counted as a line
        b'{"service": "chatgpt", "ts": ',  # 4 malformed JSON
        bulk_line(client, service="nosuch"),  # 5 unknown service
        bulk_line(client, region="XX"),  # 6 bad region
        bulk_line(client, ts=1770196860),  # 7 good, epoch seconds
        bulk_line(client, mood="angry"),  # 8 unknown field
        {"service": "chatgpt", "client": client},  # 9 no ts
        bulk_line(client, ts="yesterday"),  # 10 not a time
        b'{"service": "chatgpt", "comment": "\xff"}',  # 11 invalid UTF-8
        bulk_line(client, ts="2026-02-04T10:20:00+01:00", symptom="slow"),  # 12 good, offset
    )
    before = snapshot(db)["counts"]["reports"]
    response = http.post(BULK, content=body, headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    assert response.status_code == 202, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"], result["errors_truncated"]) == (3, 8, False)
    fields = {e["line"]: [p["field"] for p in e["errors"]] for e in result["errors"]}
    assert fields == {
        2: ["ts"],
        4: ["body"],
        5: ["service"],
        6: ["region"],
        8: ["mood"],
        9: ["ts"],
        10: ["ts"],
        11: ["body"],
    }
    assert "'nosuch'" in result["errors"][2]["errors"][0]["message"]
    assert snapshot(db)["counts"]["reports"] == before + 3
    assert len(stored_reports(db, client)) == 3


@pytest.mark.usefixtures("unchanged")
def test_bulk_of_only_bad_lines_writes_nothing(http: httpx.Client) -> None:
    body = ndjson(b"nope", {"service": "nosuch", "ts": 0}, {"service": "chatgpt", "ts": "2026-02-04 09:20"})
    response = http.post(BULK, content=body, headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    assert response.status_code == 202, response.text
    assert (response.json()["accepted"], response.json()["rejected"]) == (0, 3)
    assert [e["line"] for e in response.json()["errors"]] == [1, 2, 3]


def test_bulk_error_list_is_capped_but_every_bad_line_is_counted(http: httpx.Client) -> None:
    body = ndjson(*[b"not json"] * 1001, bulk_line(fresh_client()))
    response = http.post(BULK, content=body, headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    result = response.json()
    assert (result["accepted"], result["rejected"], result["errors_truncated"]) == (1, 1001, True)
    assert [e["line"] for e in result["errors"]] == list(range(1, 1001))


def test_bulk_takes_windows_line_endings(http: httpx.Client, db: Engine) -> None:
    client = fresh_client()
    body = b"\r\n".join(orjson.dumps(bulk_line(client, symptom=s)) for s in ("slow", "error")) + b"\r\n"
    response = http.post(BULK, content=body, headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    assert (response.json()["accepted"], response.json()["rejected"]) == (2, 0), response.text
    assert [r["symptom"] for r in stored_reports(db, client)] == ["slow", "error"]


# -- tokens -----------------------------------------------------------------------------------------------

PROTECTED = [
    pytest.param("POST", BULK, ndjson(bulk_line("someone")), id="bulk"),
    pytest.param("POST", "/api/v1/incidents", INCIDENT, id="open-incident"),
    pytest.param("GET", "/api/v1/incidents", None, id="list-incidents"),
    pytest.param("PATCH", "/api/v1/incidents/abc", {"status": "resolved"}, id="change-incident"),
    pytest.param("POST", "/api/v1/incidents/abc/updates", {"message": "hi"}, id="post-update"),
    pytest.param("POST", "/api/v1/incidents/abc/resolve", {}, id="resolve"),
    pytest.param("POST", "/api/v1/maintenances", MAINTENANCE, id="schedule-maintenance"),
    pytest.param("GET", "/api/v1/audit", None, id="audit-log"),
]
ADMIN_ONLY = [p for p in PROTECTED if p.id != "bulk"]
NO_TOKEN = [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-without-token"),
    pytest.param({"Authorization": "Basic dGVzdDp0ZXN0"}, id="basic-auth"),
    pytest.param({"Authorization": "test-admin-token"}, id="no-scheme"),
]


def request(http: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    if body is None:
        return http.request(method, path, headers=headers)
    return send(http, path, body, method=method, headers=headers)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("headers", NO_TOKEN)
@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_missing_token_is_401(http: httpx.Client, method: str, path: str, body: Any, headers: dict) -> None:
    response = request(http, method, path, body, headers)
    assert_names_problem(response, 401, None, "token")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_wrong_token_is_403(http: httpx.Client, method: str, path: str, body: Any) -> None:
    response = request(http, method, path, body, {"Authorization": "Bearer not-the-token"})
    assert_names_problem(response, 403, None, "wrong")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
def test_ingest_token_does_not_open_the_admin_api(http: httpx.Client, method: str, path: str, body: Any):
    response = request(http, method, path, body, {"Authorization": f"Bearer {INGEST_TOKEN}"})
    assert_names_problem(response, 403, None, "wrong admin token")


# -- incidents and maintenance ----------------------------------------------------------------------------

BAD_INCIDENTS = [
    pytest.param({"status": "broken"}, "status", "'broken' is not one of", id="status"),
    pytest.param({"status": "in_progress"}, "status", "is not one of", id="maintenance-status"),
    pytest.param({"impact": "catastrophic"}, "impact", "is not one of", id="impact"),
    pytest.param({"impact": "maintenance"}, "impact", "is not one of", id="impact-maintenance"),
    pytest.param({"components": {"nope": "major_outage"}}, "components.nope", "'nope'", id="component"),
    pytest.param({"components": {"login": "down"}}, "components.login", "'down'", id="component-status"),
    pytest.param({"components": ["login"]}, "components", "valid dictionary", id="components-list"),
    pytest.param({"name": "  "}, "name", "must not be empty", id="name-blank"),
    pytest.param({"name": "n" * 301}, "name", "at most 300", id="name-long"),
    pytest.param({"message": ""}, "message", "must not be empty", id="message-empty"),
    pytest.param({"severity": "sev1"}, "severity", "unknown field", id="unknown-field"),
    pytest.param({"started_at": "2026-02-04T09:20:00"}, "started_at", "timezone", id="started-at-naive"),
    pytest.param({"impact": None}, "impact", "valid string", id="impact-null"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("change", "field", "words"), BAD_INCIDENTS)
def test_bad_incident_is_422_naming_the_field(live, http, change: dict, field: str, words: str) -> None:
    response = send(http, "/api/v1/incidents", {**INCIDENT, **change}, headers=live.admin)
    assert_names_problem(response, 422, field, words)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("missing", ["service", "name", "message"])
def test_incident_missing_a_required_field_is_422(live, http, missing: str) -> None:
    body = {key: value for key, value in INCIDENT.items() if key != missing}
    assert_names_problem(send(http, "/api/v1/incidents", body, headers=live.admin), 422, missing, "required")


@pytest.mark.usefixtures("unchanged")
def test_incident_for_an_unknown_service_is_404_naming_it(live, http) -> None:
    response = send(http, "/api/v1/incidents", {**INCIDENT, "service": "nosuch"}, headers=live.admin)
    assert_names_problem(response, 404, None, "'nosuch'")


@pytest.fixture
def open_incident(live: LiveServer, http: httpx.Client) -> str:
    response = send(http, "/api/v1/incidents", INCIDENT, headers=live.admin)
    assert response.status_code == 201, response.text
    return response.json()["id"]


BAD_CHANGES = [
    pytest.param({"status": "completed"}, "status", "is not one of", id="maintenance-status"),
    pytest.param({"impact": "huge"}, "impact", "is not one of", id="impact"),
    pytest.param({"components": {"ghost": "major_outage"}}, "components.ghost", "'ghost'", id="component"),
    pytest.param({"components": {"login": "broken"}}, "components.login", "'broken'", id="component-status"),
    pytest.param({}, "body", "nothing to change", id="nothing"),
    pytest.param({"message": "  "}, "message", "must not be empty", id="blank-message"),
    pytest.param({"status": "monitoring", "impact": "bad"}, "impact", "is not one of", id="half-good"),
]


@pytest.mark.parametrize(("change", "field", "words"), BAD_CHANGES)
def test_bad_incident_change_is_422_and_changes_nothing(
    live, http, db, open_incident: str, change: dict, field: str, words: str
) -> None:
    before = snapshot(db)
    response = send(http, f"/api/v1/incidents/{open_incident}", change, method="PATCH", headers=live.admin)
    assert_names_problem(response, 422, field, words)
    assert snapshot(db) == before
    assert (
        http.get(f"/api/v1/incidents/{open_incident}", headers=live.admin).json()["status"] == "investigating"
    )


def test_resolving_twice_is_422_and_changes_nothing(live, http, db, open_incident: str) -> None:
    assert http.post(f"/api/v1/incidents/{open_incident}/resolve", headers=live.admin).status_code == 200
    before = snapshot(db)
    response = http.post(f"/api/v1/incidents/{open_incident}/resolve", headers=live.admin)
    assert_names_problem(response, 422, "status", "already resolved")
    assert snapshot(db) == before


UNKNOWN_INCIDENT = [
    pytest.param("GET", "/api/v1/incidents/nosuchincid", None, id="get"),
    pytest.param("PATCH", "/api/v1/incidents/nosuchincid", {"status": "resolved"}, id="change"),
    pytest.param("POST", "/api/v1/incidents/nosuchincid/updates", {"message": "hello"}, id="post-update"),
    pytest.param("POST", "/api/v1/incidents/nosuchincid/resolve", None, id="resolve"),
    pytest.param("PATCH", "/api/v1/maintenances/nosuchincid", {"status": "completed"}, id="maintenance"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN_INCIDENT)
def test_unknown_incident_is_404_naming_it(live, http, method: str, path: str, body: Any) -> None:
    assert_names_problem(request(http, method, path, body, live.admin), 404, None, "'nosuchincid'")


BAD_MAINTENANCES = [
    pytest.param(
        {"scheduled_until": "2099-01-01T09:00:00Z"}, "scheduled_until", "after scheduled_for", id="ends-first"
    ),
    pytest.param({"scheduled_until": MAINTENANCE["scheduled_for"]}, "scheduled_until", "after", id="empty"),
    pytest.param({"scheduled_for": "2099-01-01T10:00:00"}, "scheduled_for", "timezone", id="naive"),
    pytest.param({"scheduled_for": "soon"}, "scheduled_for", "datetime", id="not-a-time"),
    pytest.param({"components": ["nope"]}, "components.nope", "'nope'", id="unknown-component"),
    pytest.param({"status": "scheduled"}, "status", "unknown field", id="unknown-field"),
    pytest.param({"name": ""}, "name", "must not be empty", id="no-name"),
]


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(("change", "field", "words"), BAD_MAINTENANCES)
def test_bad_maintenance_is_422_naming_the_field(live, http, change: dict, field: str, words: str) -> None:
    response = send(http, "/api/v1/maintenances", {**MAINTENANCE, **change}, headers=live.admin)
    assert_names_problem(response, 422, field, words)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"impact": "major"}, "impact"),
        ({"status": "resolved"}, "status"),
        ({"status": "identified"}, "status"),
    ],
)
def test_bad_maintenance_change_is_422_and_changes_nothing(live, http, db, change: dict, field: str) -> None:
    created = send(http, "/api/v1/maintenances", MAINTENANCE, headers=live.admin)
    assert created.status_code == 201, created.text
    before = snapshot(db)
    path = f"/api/v1/maintenances/{created.json()['id']}"
    response = send(http, path, change, method="PATCH", headers=live.admin)
    assert_names_problem(response, 422, field, "")
    assert snapshot(db) == before
