"""Putting the demo together for `downradar demo`: a fresh database, the terminal mailbox when no SMTP
server is set, the seeded fortnight, and the app on the accelerated demo clock with its live traffic."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from downradar.core.catalog import Catalog, load_catalog
from downradar.core.config import Settings
from downradar.demo.mailbox import DemoMailbox
from downradar.demo.provider import demo_app, provider_url, watched_catalog
from downradar.demo.seed import seed_demo
from downradar.demo.traffic import DemoClock, DemoTraffic, demo_start, load_episode
from downradar.probes.registry import sync_catalog_probes
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.web.app import DownradarApp

DEMO_DB = Path("data/demo.db")


def fresh_database() -> str:
    """The URL of an empty data/demo.db: a fresh demo each time, as its clock runs ahead of the real one."""
    for suffix in ("", "-wal", "-shm"):
        DEMO_DB.with_name(DEMO_DB.name + suffix).unlink(missing_ok=True)
    return f"sqlite:///{DEMO_DB}"


@dataclass
class DemoLaunch:
    """The demo ready to serve: its settings (the mailbox's SMTP port filled in) and how to build the app."""

    settings: Settings
    build: Callable[[], DownradarApp]
    mailbox: DemoMailbox | None

    def close(self) -> None:
        if self.mailbox is not None:
            self.mailbox.stop()


def prepare_demo(
    settings: Settings,
    *,
    speed: float,
    lead_in: timedelta,
    say: Callable[[str], None],
    busy: Callable[[str], AbstractContextManager[object]],
) -> DemoLaunch:
    """Seed the database and build the launch; `say` tells the user what is happening, `busy` shows
    a spinner around the seeding. A bad catalog raises CatalogError."""
    # The demo's catalog has ChatGPT watch the scripted provider (its page and its front door).
    catalog = watched_catalog(load_catalog(settings.catalog), provider_url(settings))
    mailbox = None
    if not settings.smtp_host:
        mailbox = DemoMailbox(say)
        mailbox.start()
        settings = settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": mailbox.port, "smtp_security": "none"}
        )
        say("Demo mailbox: e-mails (try /subscribe) are printed here instead of sent.")
    start = demo_start()
    with busy("Writing a fortnight of demo reports…"):
        written = _seed(settings, catalog, start)
    if written:
        say(f"Demo data: {written:,} reports over the last 14 days.")
    say(
        f"Demo clock: {speed:g}× real time. The 4 Feb 2026 ChatGPT outage begins in about "
        f"{lead_in.total_seconds() / speed:.0f} s: open /services/chatgpt and watch the detector find it."
    )
    if catalog.service("chatgpt") is not None:
        acknowledged = load_episode()["provider_acknowledged_after_minutes"]
        say(
            f"ChatGPT's status page and front door are played by the demo (demo data): as on 4 Feb 2026, "
            f"the page acknowledges the outage {acknowledged} demo minutes after it starts. Until then "
            "/services/chatgpt shows the honesty gap, afterwards the provider's delay and grade; the "
            "front-door probe fails during the worst of it."
        )
    traffic = DemoTraffic(catalog, lead_in)
    final = settings
    return DemoLaunch(final, lambda: demo_app(final, DemoClock(start, speed), traffic, catalog), mailbox)


def _seed(settings: Settings, catalog: Catalog, start: datetime) -> int:
    engine = make_engine(settings.db)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            sync_catalog(conn, catalog, start)
            sync_catalog_probes(conn, catalog, start)
        return seed_demo(engine, catalog, start)
    finally:
        engine.dispose()
