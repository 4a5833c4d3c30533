"""Timestamps as Statuspage writes them: ISO 8601, milliseconds, the page's own UTC offset."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def iso(moment: datetime | None, time_zone: str = "Etc/UTC") -> str | None:
    if moment is None:
        return None
    return moment.astimezone(zone(time_zone)).isoformat(timespec="milliseconds")
