"""From stored or replayed report counts to the detector's series: a service's total and its children.

Shared by the live server and `replay`, so both feed the detector exactly the same series. Regions are
counted per country (US-CA counts for US): subdivisions would split an outage's evidence thin.
"""

from __future__ import annotations

from collections.abc import Iterable

from downradar.detect import SeriesKey

# (service, component, region, symptom, distinct clients) as stored in report_minutes
MinuteRow = tuple[str, str, str, str, int]
# SeriesKey(service, dimension, value) without NamedTuple's Python-level __new__: the same object in a
# third of the time (replay builds four per new cell).
_key = tuple.__new__


def country(region: str) -> str:
    return region[:2]


def series_keys(service: str, component: str, region: str, symptom: str) -> list[SeriesKey]:
    """The series one report counts in: its service's total, then its component, country and symptom
    (each only when given)."""
    keys = [_key(SeriesKey, (service, "service", ""))]
    if component:
        keys.append(_key(SeriesKey, (service, "component", component)))
    if region:
        keys.append(_key(SeriesKey, (service, "region", country(region))))
    if symptom:
        keys.append(_key(SeriesKey, (service, "symptom", symptom)))
    return keys


def series_counts(rows: Iterable[MinuteRow]) -> dict[SeriesKey, int]:
    counts: dict[SeriesKey, int] = {}
    for service, component, region, symptom, clients in rows:
        if not clients:
            continue
        for key in series_keys(service, component, region, symptom):
            counts[key] = counts.get(key, 0) + clients
    return counts
