"""The intake writer itself, on SQLite and PostgreSQL: ids name the rows they were returned for, whatever
mix of single reports and bulk batches shares a commit; duplicates and minute roll-ups as the API sees."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from downradar.core.catalog import load_catalog
from downradar.core.config import DEMO_CATALOG
from downradar.intake.group_commit import GroupCommitWriter
from downradar.intake.report_store import ReportStore
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.schema import report_minutes, reports

NOW = datetime(2026, 2, 4, 9, 26, 30, tzinfo=UTC)


def row(client: str, ts: datetime = NOW, component: str = "login") -> dict[str, Any]:
    return {
        "ts": ts,
        "received_at": NOW,
        "service_id": "chatgpt",
        "component": component,
        "region": "US-CA",
        "symptom": "error",
        "client": client,
        "comment": None,
        "source": "live",
    }


def prepared(db_url: str):
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        sync_catalog(conn, load_catalog(DEMO_CATALOG), NOW)
    return engine


def test_ids_name_their_rows_in_a_mixed_commit(db_url: str) -> None:
    engine = prepared(db_url)
    store = ReportStore(engine)
    try:
        singles = [[row(f"single-{i}")] for i in range(40)]
        bulk = [row(f"bulk-{i}", NOW - timedelta(minutes=i % 7)) for i in range(300)]
        batches = [*singles[:20], bulk, *singles[20:]]
        wants = [True] * 20 + [False] + [True] * 20
        ids = store.write(batches, wants)
        assert ids[20] == [None] * 300
        with engine.connect() as conn:
            client_of = dict(conn.execute(select(reports.c.id, reports.c.client)).all())
        assert len(client_of) == 340
        for batch, batch_ids, wanted in zip(batches, ids, wants, strict=True):
            if wanted:
                assert [client_of[i] for i in batch_ids] == [r["client"] for r in batch]
    finally:
        store.close()
        engine.dispose()


def test_writer_marks_duplicates_and_rolls_up_once_committed(db_url: str) -> None:
    engine = prepared(db_url)

    async def scenario() -> list[list[int | None]]:
        writer = GroupCommitWriter(ReportStore(engine))
        await writer.start()
        try:
            first = await asyncio.gather(
                *(writer.submit([row(f"c{i % 5}")], want_ids=True) for i in range(20))
            )
            later = await writer.submit([row("c0", NOW + timedelta(minutes=16))], want_ids=True)
            return [*first, later]
        finally:
            await writer.stop()

    try:
        ids = asyncio.run(scenario())
        assert len({i for batch in ids for i in batch}) == 21
        with engine.connect() as conn:
            duplicate = dict(conn.execute(select(reports.c.id, reports.c.duplicate)).all())
            minutes = conn.execute(
                select(report_minutes.c.minute, report_minutes.c.reports, report_minutes.c.clients).order_by(
                    report_minutes.c.minute
                )
            ).all()
        assert sum(not duplicate[batch[0]] for batch in ids) == 6  # five clients, then c0 again after 16 min
        assert [(m.reports, m.clients) for m in minutes] == [(20, 5), (1, 1)]
    finally:
        engine.dispose()


def test_a_new_writer_dedups_against_what_an_earlier_run_stored(db_url: str) -> None:
    engine = prepared(db_url)
    try:
        earlier = ReportStore(engine)
        earlier.write([[row("x", NOW), row("z", NOW)]], [False])
        earlier.close()
        store = ReportStore(engine)  # a restart: its cache is empty
        try:
            soon = row("x", NOW + timedelta(minutes=5))
            much_later = row("x", NOW + timedelta(hours=1))
            backfill = row("z", NOW + timedelta(minutes=3))  # this run has seen later reports, not z's
            fresh = row("y", NOW + timedelta(hours=1))
            for report in (soon, much_later, backfill, fresh):
                store.write([[report]], [False])
            assert [r["duplicate"] for r in (soon, much_later, backfill, fresh)] == [True, False, True, False]
        finally:
            store.close()
    finally:
        engine.dispose()
