"""Demo data for `make run`: a fortnight of ordinary report traffic with a daily rhythm, and one past
incident so the history and timeline have something to show. Seeded, so every newcomer sees the same."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from downradar import incidents as lifecycle
from downradar.core.catalog import Catalog
from downradar.intake.report_store import ReportStore
from downradar.store.schema import reports

# Usual reports per 15 minutes (the unit outage trackers plot); ChatGPT's 19 is from the Feb 2026 reports.
USUAL_PER_15_MIN = {"chatgpt": 19.0, "claude": 8.0, "github": 6.0, "slack": 5.0}
REGION_WEIGHTS = {"US": 50, "GB": 9, "DE": 8, "IN": 8, "CA": 6, "FR": 5, "BR": 5, "AU": 4, "MX": 3, "JP": 2}
PEAK_TO_TROUGH = 3.0
SEED = 20260204


def daily_factor(moment: datetime) -> float:
    """Relative activity by time of day: trough at 09:00 UTC (night in the Americas), peak at 21:00."""
    hours = moment.hour + moment.minute / 60
    amplitude = (PEAK_TO_TROUGH - 1) / (PEAK_TO_TROUGH + 1)
    return 1 + amplitude * math.sin((hours - 15) / 24 * 2 * math.pi)


def poisson(rng: random.Random, lam: float) -> int:
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def background_reports(
    catalog: Catalog, start: datetime, end: datetime, seed: int = SEED
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    regions, region_weights = zip(*REGION_WEIGHTS.items(), strict=True)
    rows = []
    minute = start.replace(second=0, microsecond=0)
    while minute < end:
        factor = daily_factor(minute)
        for service in catalog.services:
            lam = USUAL_PER_15_MIN.get(service.id, 3.0) / 15 * factor
            for _ in range(poisson(rng, lam)):
                component = (
                    rng.choice(service.components).id if service.components and rng.random() < 0.7 else ""
                )
                rows.append(
                    {
                        "ts": minute + timedelta(seconds=rng.random() * 60),
                        "received_at": minute + timedelta(seconds=60),
                        "service_id": service.id,
                        "component": component,
                        "region": rng.choices(regions, region_weights)[0],
                        "symptom": rng.choice(service.symptoms),
                        "client": f"demo-{rng.getrandbits(64):016x}",
                        "comment": None,
                        "source": "demo",
                    }
                )
        minute += timedelta(minutes=1)
    return rows


def seed_demo(engine: Engine, catalog: Catalog, now: datetime, days: int = 14) -> int:
    """Fill an empty database with demo traffic; returns how many reports were written (0 if not empty)."""
    with engine.connect() as conn:
        if conn.scalar(select(func.count()).select_from(reports)):
            return 0
    rows = background_reports(catalog, now - timedelta(days=days), now)
    store = ReportStore(engine)
    try:
        for start in range(0, len(rows), 20_000):
            store.write([rows[start : start + 20_000]], [False])
    finally:
        store.close()
    if catalog.service("chatgpt") is not None:
        _past_incident(engine, now - timedelta(days=2, hours=3))
    return len(rows)


def _past_incident(engine: Engine, started: datetime) -> None:
    steps = [
        (0, "investigating", "We are investigating elevated error rates in conversations. (demo data)"),
        (18, "identified", "The issue has been identified and a fix is being rolled out."),
        (35, "monitoring", "A fix has been implemented and we are monitoring the results."),
        (52, "resolved", "This incident has been resolved."),
    ]
    with engine.begin() as conn:
        incident_id = lifecycle.open_incident(
            conn,
            service_id="chatgpt",
            name="Elevated errors in conversations",
            message=steps[0][2],
            status="investigating",
            impact="major",
            components_status={"conversations": "partial_outage", "login": "degraded_performance"},
            actor="demo",
            now=started,
        )
        for minutes, status, message in steps[1:]:
            lifecycle.update_incident(
                conn,
                incident_id,
                actor="demo",
                now=started + timedelta(minutes=minutes),
                status=status,
                message=message,
            )
