"""Times for machines and for people.

Machines get ISO 8601 as Statuspage writes it (milliseconds, the page's own UTC offset). People get short
dates and times in the reader's time zone and language: English only for now, in its two conventions
(en-US month first, en-GB day first), chosen from `?lang=` or the browser's Accept-Language.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DEFAULT_LANGUAGE = "en"
# The languages the pages can truly be read in; <html lang> never claims one the text is not in.
LANGUAGES = ("en", "en-US", "en-GB")
DAY_FIRST = frozenset({"en-GB"})
MAX_ZONE_NAME = 64


@lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def known_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone ("Europe/Berlin"); never opens a path from the name first."""
    if not name or len(name) > MAX_ZONE_NAME or name not in _zone_names():
        return False
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def iso(moment: datetime | None, time_zone: str = "Etc/UTC") -> str | None:
    if moment is None:
        return None
    return moment.astimezone(zone(time_zone)).isoformat(timespec="milliseconds")


def _language(tag: str) -> str | None:
    """The supported language for one tag, matching case-insensitively and falling back to its base."""
    tag = tag.strip().replace("_", "-")
    by_lower = {lang.lower(): lang for lang in LANGUAGES}
    if tag.lower() in by_lower:
        return by_lower[tag.lower()]
    base = tag.split("-", 1)[0].lower()
    return by_lower.get(base)


def negotiate_language(requested: str | None, accept_language: str | None) -> str:
    """`?lang=` if supported, else the best supported entry of Accept-Language (by q), else "en"."""
    if requested:
        found = _language(requested)
        if found:
            return found
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and tag.strip() and tag.strip() != "*":
            ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        found = _language(tag)
        if found:
            return found
    return DEFAULT_LANGUAGE


def short_time(moment: datetime | None, time_zone: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """'Nov 22, 18:03 PST' (en-GB: '22 Nov, 18:03 GMT'): what a status page reader needs, in their zone."""
    if moment is None:
        return ""
    local = moment.astimezone(zone(time_zone))
    if lang in DAY_FIRST:
        return f"{local.day} {local:%b}, {local:%H:%M} {local.tzname()}"
    return f"{local:%b} {local.day}, {local:%H:%M} {local.tzname()}"


def day_label(day: date, lang: str = DEFAULT_LANGUAGE) -> str:
    if lang in DAY_FIRST:
        return f"{day.day} {day:%b} {day.year}"
    return f"{day:%b} {day.day}, {day.year}"


def month_label(month: date) -> str:
    return f"{month:%B} {month.year}"
