"""`make run`'s demo data: a fortnight of ordinary traffic with a daily rhythm and one past incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from markupsafe import escape
from sqlalchemy import func, select

from downradar.core.catalog import load_catalog
from downradar.core.config import DEMO_CATALOG
from downradar.demo.seed import USUAL_PER_15_MIN, seed_demo
from downradar.demo.traffic import DemoTraffic
from downradar.incidents.queries import load_incidents
from downradar.intake.validation import parse_report
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.report_series import report_summary
from downradar.store.schema import reports
from support.servers import start_demo_server
from support.waiting import eventually


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

    from downradar.demo.mailbox import DemoMailbox

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


def test_the_demo_feed_s_reporters_comment_as_during_an_outage() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    onset = datetime(2026, 2, 4, 17, 20, tzinfo=UTC)
    minutes = [onset + timedelta(minutes=m) for m in range(-30, 90)]
    feed, again = DemoTraffic(catalog, timedelta(minutes=5)), DemoTraffic(catalog, timedelta(minutes=5))
    stream = [feed.reports_for(minute, onset) for minute in minutes]
    assert stream == [again.reports_for(minute, onset) for minute in minutes]  # seeded: the same every run

    texts = {c.text: c for c in feed.outage_comments + feed.background_comments}
    outage = [r for minute in stream[30:] for r in minute if r["service"] == "chatgpt"]
    commented = [r for r in outage if "comment" in r]
    assert 0.015 < len(commented) / len(outage) < 0.05  # a few percent
    assert len({r["comment"] for r in commented}) > 20  # varied
    for report in commented:
        said = texts[report["comment"]]
        assert said.fits(report, (datetime.fromisoformat(report["ts"]) - onset) / timedelta(minutes=1) // 1)
        assert parse_report(report, allow_ts=True, require_ts=True).comment == report["comment"]
    late = {r["comment"] for minute in stream[30 + 45 :] for r in minute if "comment" in r}
    assert "Back up for me now" in late
    assert not late & {"Is it down for everyone?", "Down for me too"}

    quiet = [r for minute in stream[:30] for r in minute]
    assert sum("comment" in r for r in quiet) <= len(quiet) * 0.05  # far fewer on an ordinary day


def test_the_demo_page_shows_reporters_comments_escaped(tmp_path: Path) -> None:
    live, feed = start_demo_server(tmp_path, lead_in=timedelta(minutes=1))
    # Texts with quotes show whether the page escapes what reporters write.
    quoted = [c.text for c in feed.outage_comments if escape(c.text) != c.text]
    try:
        with live.client() as http:

            def shown() -> tuple[str, list[str]] | None:
                block = http.get("/services/chatgpt/live.json").json()["html"]["live_comments"]
                found = [text for text in quoted if escape(text) in block]
                return (block, found) if found else None

            block, found = eventually("an outage comment on the chatgpt page", shown, 30)
            assert "Recent comments" in http.get("/services/chatgpt").text
    finally:
        live.stop()
    assert all(text not in block for text in found)  # escaped, never raw
