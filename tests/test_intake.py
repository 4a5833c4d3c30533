"""Report intake as reporters and importers see it: 202s, dedup, client hashing, limits, bulk, summaries."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import Engine, String, Text, select

from downradar.core.clock import FakeClock
from downradar.store import make_engine
from downradar.store.schema import report_minutes, reports
from support.inprocess import start_in_process
from support.servers import ADMIN_TOKEN, LiveServer, make_settings

REPORTS = "/api/v1/reports"
BULK = "/api/v1/reports/bulk"
INGEST_TOKEN = "test-ingest-token"
T0 = datetime(2026, 2, 4, 10, 0, tzinfo=UTC)


# -- helpers ----------------------------------------------------------------------------------------------


@pytest.fixture
def db(server: LiveServer) -> Iterator[Engine]:
    engine = make_engine(server.settings.db)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def timed(db_url: str, clock: FakeClock) -> Iterator[LiveServer]:
    """A server whose clock moves only when the test says so, with an ingest token for bulk intake."""
    live = start_in_process(make_settings(db_url, ingest_token=INGEST_TOKEN), clock=clock)
    yield live
    live.stop()


def report(http: httpx.Client, **fields: Any) -> httpx.Response:
    return http.post(REPORTS, json={"service": "chatgpt", **fields})


def accepted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return response.json()


def bulk(http: httpx.Client, lines: list[dict[str, Any]], token: str = INGEST_TOKEN) -> dict[str, Any]:
    body = b"\n".join(orjson.dumps({"service": "chatgpt", **line}) for line in lines)
    return accepted(http.post(BULK, content=body, headers={"Authorization": f"Bearer {token}"}))


def rows(engine: Engine, table: Any = reports, **where: Any) -> list[dict[str, Any]]:
    query = select(table).where(*(table.c[key] == value for key, value in where.items()))
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def summary(http: httpx.Client, hours: int = 24, service: str = "chatgpt") -> dict[str, Any]:
    response = http.get(f"/api/v1/services/{service}/reports", params={"hours": hours})
    assert response.status_code == 200, response.text
    return response.json()


def bucket(body: dict[str, Any], start: datetime) -> dict[str, Any]:
    (found,) = [b for b in body["buckets"] if datetime.fromisoformat(b["start"]) == start]
    return found


def counts(bar: dict[str, Any]) -> tuple[int, int]:
    return bar["reports"], bar["clients"]


def labels(shares: list[dict[str, Any]]) -> list[str]:
    return [share["label"] for share in shares]


# -- single reports ---------------------------------------------------------------------------------------


def test_a_report_is_acknowledged_with_its_id_once_stored(client: httpx.Client, db: Engine) -> None:
    before = datetime.now(UTC)
    body = accepted(
        report(client, component="login", region="us-ca", symptom="login", comment="can't log in")
    )
    assert isinstance(body["id"], int) and body["duplicate"] is False
    (row,) = rows(db, id=body["id"])
    assert row["service_id"] == "chatgpt"
    assert (row["component"], row["region"], row["symptom"]) == ("login", "US-CA", "login")
    assert (row["comment"], row["source"], row["duplicate"]) == ("can't log in", "live", False)
    assert before <= row["ts"] == row["received_at"] <= datetime.now(UTC)  # stamped on arrival


@pytest.mark.parametrize(
    ("given", "stored"), [("login", "login"), ("teleportation", "other"), (None, "")], ids=str
)
def test_component_is_kept_when_known_else_other(client, db, given: str | None, stored: str) -> None:
    fields = {"component": given} if given else {}
    assert rows(db, id=accepted(report(client, **fields))["id"])[0]["component"] == stored


def text_values(engine: Engine) -> list[str]:
    """Every text value in every stored report."""
    columns = [c for c in reports.c if isinstance(c.type, String | Text)]
    with engine.connect() as conn:
        return [value for row in conn.execute(select(*columns)) for value in row if value]


def test_client_is_a_salted_hash_of_the_address_and_the_address_is_never_stored(
    server: LiveServer, client: httpx.Client, db: Engine
) -> None:
    first, second = accepted(report(client)), accepted(report(client, component="login"))
    assert second["duplicate"] is True  # same address, same reporter
    with server.client() as other_http:
        third = accepted(report(other_http, service="claude"))
    other_salt = start_in_process(make_settings(server.settings.db, secret="another-secret"))
    try:
        with other_salt.client() as resalted:
            fourth = accepted(report(resalted, service="github"))
    finally:
        other_salt.stop()
    clients = [rows(db, id=r["id"])[0]["client"] for r in (first, second, third, fourth)]
    assert clients[0] == clients[1] == clients[2] != clients[3]
    assert all(len(c) >= 32 and "127.0.0.1" not in c for c in clients)
    assert not [value for value in text_values(db) if "127.0.0.1" in value]


def test_a_client_given_by_the_reporter_is_kept(client: httpx.Client, db: Engine) -> None:
    body = accepted(report(client, client="fingerprint-1234"))
    assert rows(db, id=body["id"])[0]["client"] == "fingerprint-1234"


def test_only_the_first_report_per_client_per_service_in_15_minutes_counts(
    timed: LiveServer, clock: FakeClock
) -> None:
    outcomes = []
    with timed.client() as http:
        for offset, service in [
            (timedelta(0), "chatgpt"),
            (timedelta(minutes=5), "chatgpt"),
            (timedelta(minutes=5), "claude"),  # another service: counts
            (timedelta(minutes=14, seconds=59), "chatgpt"),
            (timedelta(minutes=15), "chatgpt"),  # a new window
        ]:
            clock.set(T0 + offset)
            outcomes.append(accepted(report(http, service=service, client="alice"))["duplicate"])
        assert outcomes == [False, True, False, True, False]
        accepted(report(http, client="bob"))  # another reporter counts at once
        body = summary(http)
    assert counts(bucket(body, T0)) == (3, 1)
    assert counts(bucket(body, T0 + timedelta(minutes=15))) == (2, 2)
    assert (body["total_reports"], body["total_clients"]) == (5, 3)


def test_dedup_survives_a_restart(db_url: str) -> None:
    outcomes = []
    for _ in range(2):
        live = start_in_process(make_settings(db_url))
        try:
            with live.client() as http:
                outcomes.append(accepted(report(http))["duplicate"])
        finally:
            live.stop()
    assert outcomes == [False, True]


def test_per_address_rate_limit_answers_429_with_retry_after(db_url: str) -> None:
    live = start_in_process(make_settings(db_url, report_rate_limit="3/minute"))
    engine = make_engine(db_url)
    try:
        with live.client() as http:
            for n in range(3):
                accepted(report(http, client=f"reporter-{n}"))
            limited = report(http, client="reporter-4")  # the limit follows the address, not the client id
            assert limited.status_code == 429, limited.text
            assert 1 <= int(limited.headers["Retry-After"]) <= 60
            assert "too many reports" in limited.json()["error"]
            # Another address (as the trusted local proxy says in X-Forwarded-For) has its own allowance.
            accepted(
                http.post(REPORTS, json={"service": "chatgpt"}, headers={"X-Forwarded-For": "203.0.113.7"})
            )
        assert len(rows(engine)) == 4
        assert not [value for value in text_values(engine) if "203.0.113.7" in value]
    finally:
        live.stop()
        engine.dispose()


def test_concurrent_reports_all_get_distinct_ids_and_are_all_stored(server: LiveServer, db: Engine) -> None:
    def send(n: int) -> httpx.Response:
        return report(http, client=f"reporter-{n % 50}", symptom="error")

    with server.client(limits=httpx.Limits(max_connections=32)) as http, ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(send, range(200)))
    ids = [accepted(r)["id"] for r in responses]
    assert len(set(ids)) == 200
    assert sorted(ids) == sorted(row["id"] for row in rows(db))
    assert sum(not r.json()["duplicate"] for r in responses) == 50
    with server.client() as http:
        assert (summary(http)["total_reports"], summary(http)["total_clients"]) == (200, 50)


# -- bulk intake ------------------------------------------------------------------------------------------


def test_bulk_takes_the_admin_or_the_ingest_token(timed: LiveServer) -> None:
    admin_token = timed.admin["Authorization"].removeprefix("Bearer ")
    with timed.client() as http:
        for n, token in enumerate([admin_token, INGEST_TOKEN]):
            result = bulk(http, [{"ts": "2026-02-04T09:20:00Z", "client": f"importer-{n}"}], token=token)
            assert (result["accepted"], result["counted"], result["rejected"]) == (1, 1, 0)


SAME_MOMENT = {
    "Z": "2026-02-04T09:20:00Z",
    "+00:00": "2026-02-04T09:20:00+00:00",
    "+01:00": "2026-02-04T10:20:00+01:00",
    "-08:00": "2026-02-04T01:20:00-08:00",
    "fraction": "2026-02-04T09:20:00.000Z",
    "epoch-int": int(datetime(2026, 2, 4, 9, 20, tzinfo=UTC).timestamp()),
    "epoch-float": datetime(2026, 2, 4, 9, 20, tzinfo=UTC).timestamp(),
}


def test_bulk_ts_is_rfc3339_or_epoch_seconds(timed: LiveServer) -> None:
    with timed.client() as http:
        result = bulk(http, [{"ts": ts, "client": name} for name, ts in SAME_MOMENT.items()])
    assert (result["accepted"], result["rejected"]) == (len(SAME_MOMENT), 0), result["errors"]
    engine = make_engine(timed.settings.db)
    try:
        stored = {row["client"]: (row["ts"], row["received_at"], row["source"]) for row in rows(engine)}
    finally:
        engine.dispose()
    assert stored == {name: (datetime(2026, 2, 4, 9, 20, tzinfo=UTC), T0, "bulk") for name in SAME_MOMENT}


def test_bulk_dedups_and_rolls_up_into_minute_buckets(timed: LiveServer) -> None:
    at = datetime(2026, 2, 4, 9, 20, tzinfo=UTC)
    key = {"component": "login", "region": "US-CA", "symptom": "error"}
    lines = [
        {"ts": (at + timedelta(seconds=5)).isoformat(), "client": "a", **key},
        {"ts": (at + timedelta(seconds=35)).isoformat(), "client": "a", **key},  # duplicate of the first
        {"ts": (at + timedelta(seconds=50)).isoformat(), "client": "b", **key},
        {"ts": (at + timedelta(seconds=70)).isoformat(), "client": "b", **key},  # next minute, duplicate
        {"ts": (at + timedelta(seconds=75)).isoformat(), **key},  # no client: its own reporter
        {"ts": (at + timedelta(seconds=80)).isoformat(), "component": "warp-drive"},
    ]
    with timed.client() as http:
        result = bulk(http, lines)
    assert (result["accepted"], result["counted"], result["duplicates"]) == (6, 4, 2)
    engine = make_engine(timed.settings.db)
    try:
        minutes = {
            (r["minute"], r["component"], r["region"], r["symptom"]): (r["reports"], r["clients"])
            for r in rows(engine, report_minutes)
        }
    finally:
        engine.dispose()
    next_minute = at + timedelta(minutes=1)
    assert minutes == {
        (at, "login", "US-CA", "error"): (3, 2),
        (next_minute, "login", "US-CA", "error"): (2, 1),
        (next_minute, "other", "", ""): (1, 1),
    }


# -- the per-service summary ------------------------------------------------------------------------------


def outage_lines() -> list[dict[str, Any]]:
    """13 reporters around 09:20 (plus duplicates, and one report from yesterday)."""
    symptoms = ["login"] * 6 + ["error"] * 4 + ["slow"] * 2 + ["upload"]
    components = ["login"] * 7 + ["conversations"] * 3 + ["no-such-part"] * 2 + [None]
    regions = ["US"] * 8 + ["GB"] * 3 + ["DE"] + [None]
    lines = []
    for n, (symptom, component, region) in enumerate(zip(symptoms, components, regions, strict=True)):
        line = {"ts": f"2026-02-04T09:2{n % 3}:00Z", "client": f"c{n}", "symptom": symptom}
        line |= {"component": component} if component else {}
        line |= {"region": region} if region else {}
        lines.append(line)
    # c0 keeps reporting another symptom: more reports, not more weight.
    lines += [{"ts": "2026-02-04T09:25:00Z", "client": "c0", "symptom": "error", "region": "US"}] * 4
    lines.append({"ts": "2026-02-03T09:00:00Z", "client": "yesterday", "symptom": "slow"})
    return lines


def test_summary_has_96_quarter_hours_and_the_top_problems(timed: LiveServer, clock: FakeClock) -> None:
    clock.set(T0 + timedelta(minutes=7, seconds=30))
    with timed.client() as http:
        bulk(http, outage_lines())
        body = summary(http, hours=24)
    starts = [datetime.fromisoformat(b["start"]) for b in body["buckets"]]
    assert len(starts) == 96 and body["bucket_minutes"] == 15
    assert all(b - a == timedelta(minutes=15) for a, b in pairwise(starts))
    window_end = T0 + timedelta(minutes=15)  # the bar holding "now" is the last one
    assert starts[-1] == T0 and datetime.fromisoformat(body["end"]) == window_end
    assert datetime.fromisoformat(body["start"]) == starts[0] == window_end - timedelta(hours=24)
    assert all(s.tzinfo is not None for s in starts)
    assert counts(bucket(body, datetime(2026, 2, 4, 9, 15, tzinfo=UTC))) == (17, 13)
    assert (body["total_reports"], body["total_clients"]) == (17, 13)
    assert labels(body["top_problems"]) == ["login 46 %", "error 31 %", "slow 15 %"]
    assert labels(body["top_components"]) == ["login 54 %", "conversations 23 %", "other 15 %"]
    assert labels(body["top_regions"]) == ["US 62 %", "GB 23 %", "DE 8 %"]
    assert body["top_problems"][0] == {
        "key": "login",
        "clients": 6,
        "share": round(6 / 13, 4),
        "label": "login 46 %",
    }


def test_summary_window_follows_hours(client: httpx.Client) -> None:
    for hours in (1, 6, 48, 24 * 14):
        body = summary(client, hours=hours)
        assert len(body["buckets"]) == hours * 4
        assert (body["total_reports"], body["top_problems"]) == (0, [])


def test_bulk_ts_in_epoch_milliseconds_is_refused(client: httpx.Client) -> None:
    body = bulk(client, [{"ts": 1770196800000, "client": "ms"}], token=ADMIN_TOKEN)
    assert body["accepted"] == 0
    assert body["errors"][0]["errors"] == [
        {"field": "ts", "message": "epoch seconds expected; this looks like milliseconds"}
    ]
