"""Comments and their moderation, on SQLite and PostgreSQL: one per reporter on the page, hidden ones
gone from it (but listed for operators), every change audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from downradar.core.catalog import Catalog, Service
from downradar.incidents import NotFound
from downradar.intake.comments import list_comments, recent_comments, set_hidden
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.schema import audit_log, reports

NOW = datetime(2026, 2, 4, 18, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        sync_catalog(conn, Catalog(services=[Service(id="acme", name="Acme")]), NOW)
    yield engine
    engine.dispose()


def report(conn, minutes_ago: float, client: str, comment: str | None) -> int:  # type: ignore[no-untyped-def]
    ts = NOW - timedelta(minutes=minutes_ago)
    row = {"ts": ts, "received_at": ts, "service_id": "acme", "component": "", "region": "US",
           "symptom": "error", "client": client, "comment": comment, "duplicate": False,
           "source": "api"}  # fmt: skip
    return conn.execute(reports.insert().values(**row)).inserted_primary_key[0]


def test_the_page_shows_each_reporters_newest_comment_of_the_last_day(engine: Engine) -> None:
    with engine.begin() as conn:
        report(conn, 5, "a", "still broken")
        for n in range(30):  # one client flooding: one line
            report(conn, 10 + n, "bot", f"spam {n}")
        report(conn, 20, "b", "<script>alert(1)</script>")
        report(conn, 25, "c", None)
        report(conn, 60 * 25, "d", "yesterday")
    with engine.connect() as conn:
        shown = recent_comments(conn, "acme", NOW)
    assert [(c.client, c.text) for c in shown] == [
        ("a", "still broken"), ("bot", "spam 0"), ("b", "<script>alert(1)</script>"),
    ]  # fmt: skip


def test_hidden_comments_leave_the_page_and_every_change_is_audited(engine: Engine) -> None:
    with engine.begin() as conn:
        keep = report(conn, 5, "a", "down here too")
        rude = report(conn, 6, "b", "rude words")
    with engine.begin() as conn:
        set_hidden(conn, rude, True, actor="admin", now=NOW)
    with engine.connect() as conn:
        assert [c.id for c in recent_comments(conn, "acme", NOW)] == [keep]
        assert [(c.id, c.hidden) for c in list_comments(conn)] == [(keep, False), (rude, True)]
        assert [c.id for c in list_comments(conn, hidden=True)] == [rude]
        assert [c.id for c in list_comments(conn, hidden=False)] == [keep]
    with engine.begin() as conn:
        set_hidden(conn, rude, False, actor="admin", now=NOW)
    with engine.connect() as conn:
        assert [c.id for c in recent_comments(conn, "acme", NOW)] == [keep, rude]
        actions = conn.scalars(select(audit_log.c.action).order_by(audit_log.c.id)).all()
    assert actions == ["comment.hidden", "comment.shown"]


def test_only_comments_can_be_moderated(engine: Engine) -> None:
    with engine.begin() as conn:
        plain = report(conn, 5, "a", None)
    with engine.begin() as conn, pytest.raises(NotFound, match="no comment"):
        set_hidden(conn, plain, True, actor="admin", now=NOW)
    with engine.begin() as conn, pytest.raises(NotFound):
        set_hidden(conn, 999_999, True, actor="admin", now=NOW)
