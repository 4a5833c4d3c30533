"""From stored or replayed report counts to the detector's series: a service's total and its children.

Shared by the live server and `replay`, so both feed the detector exactly the same series. Regions are
counted per country (US-CA counts for US): subdivisions would split an outage's evidence thin.
"""

from __future__ import annotations

from collections.abc import Iterable

from downradar.detect import SeriesKey

# (service, component, region, symptom, distinct clients) as stored in report_minutes
MinuteRow = tuple[str, str, str, str, int]


def country(region: str) -> str:
    return region[:2]


def series_counts(rows: Iterable[MinuteRow]) -> dict[SeriesKey, int]:
    counts: dict[SeriesKey, int] = {}
    for service, component, region, symptom, clients in rows:
        if not clients:
            continue
        for key in (
            SeriesKey(service, "service", ""),
            SeriesKey(service, "component", component) if component else None,
            SeriesKey(service, "region", country(region)) if region else None,
            SeriesKey(service, "symptom", symptom) if symptom else None,
        ):
            if key is not None:
                counts[key] = counts.get(key, 0) + clients
    return counts
