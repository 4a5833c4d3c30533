"""`make run`'s demo data: a fortnight of ordinary traffic with a daily rhythm and one past incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from downradar.catalog import load_catalog
from downradar.config import DEMO_CATALOG
from downradar.demo import USUAL_PER_15_MIN, seed_demo
from downradar.incidents.queries import load_incidents
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.report_series import report_summary
from downradar.store.schema import reports


def test_demo_seed_fills_an_empty_database_once(db_url: str) -> None:
    catalog = load_catalog(DEMO_CATALOG)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        sync_catalog(conn, catalog, now)
    written = seed_demo(engine, catalog, now)
    assert written > 10_000
    assert seed_demo(engine, catalog, now) == 0  # never twice

    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(reports)) == written
        summary = report_summary(conn, "chatgpt", now, hours=24)
        past = load_incidents(conn)
    engine.dispose()
    per_15 = [bucket.clients for bucket in summary.buckets]
    usual = USUAL_PER_15_MIN["chatgpt"]
    assert usual * 0.6 < sum(per_15) / len(per_15) < usual * 1.4
    assert max(per_15) > 2 * min(per_15)  # the daily rhythm shows
    assert [i.status for i in past] == ["resolved"]
    assert len(past[0].updates) == 4
    assert past[0].created_at < now - timedelta(days=1)


def test_the_demo_mailbox_prints_what_it_receives() -> None:
    import smtplib
    from email.message import EmailMessage

    from downradar.demo_mailbox import DemoMailbox

    shown: list[str] = []
    mailbox = DemoMailbox(shown.append)
    mailbox.start()
    try:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "status@localhost", "me@example.com", "Confirm"
        mail.set_content("Open http://127.0.0.1:8000/subscribe/confirm/TOKEN")
        with smtplib.SMTP("127.0.0.1", mailbox.port, timeout=10) as smtp:
            smtp.send_message(mail)
    finally:
        mailbox.stop()
    assert len(shown) == 1
    assert "mail to me@example.com: Confirm" in shown[0]
    assert "http://127.0.0.1:8000/subscribe/confirm/TOKEN" in shown[0]
