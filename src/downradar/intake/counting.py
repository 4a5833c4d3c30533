"""The one rule that decides which reports count, shared by live intake (intake/report_store.py) and
replay (detection/replay.py), so that the same report stream gives the same per-minute series either way
(tests/test_live_replay_agree.py feeds one stream through both).

- A report counts towards its service's volumes unless the same client already has a counted report for
  that service less than the dedup window (15 minutes) before or after it: one person is one report per
  window, as outage trackers count. A report without a client is its own reporter and always counts.
- Reports are judged in the order they arrive. A report judged after a later one (a late arrival) that
  still counts does not move the client's window back: the later counted time is kept.
- A counted report counts once in its minute bucket, under its (service, component, region, symptom)
  cell; the detector's series (detection/series.py) are sums over those cells.

Pure: times are epoch seconds, state is a plain dict the caller owns (the store keeps it per
(service, client) next to its database lookups, replay per service and client).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import TypeVar

DEDUP_WINDOW = timedelta(minutes=15)
MINUTE_SECONDS = 60

Key = TypeVar("Key")


def judge(last_counted: MutableMapping[Key, float], key: Key, seconds: float, window: float) -> bool:
    """Whether a report of `key` (a client, per service) sent at `seconds` counts; if it does, the
    client's last counted time becomes the later of the two. `window` is the dedup window in seconds."""
    last = last_counted.get(key)
    if last is None:
        last_counted[key] = seconds
        return True
    if abs(seconds - last) < window:
        return False
    if seconds > last:
        last_counted[key] = seconds
    return True


def minute_of(seconds: float) -> int:
    """The epoch minute a report at `seconds` counts in."""
    return int(seconds // MINUTE_SECONDS)
