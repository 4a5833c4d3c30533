"""A service's last 24 hours of reports as a tiny inline SVG line, for the overview's list of services.

Drawn in `currentColor`, so it takes the text colour of wherever it sits (and follows dark mode); the
label says the same in words for anyone who cannot see it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from downradar.store.report_series import Bucket

WIDTH, HEIGHT = 96, 24
PAD = 2  # keeps the stroke of a peak or of the zero line inside the box


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def sparkline(buckets: Sequence[Bucket], *, label: str) -> Markup:
    """A polyline of `clients` per bucket scaled to the busiest one; flat along the bottom when quiet."""
    peak = max((b.clients for b in buckets), default=0)
    total = sum(b.clients for b in buckets)
    step = WIDTH / max(len(buckets) - 1, 1)
    points = " ".join(
        f"{_num(index * step)},{_num(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (b.clients / peak if peak else 0))}"
        for index, b in enumerate(buckets)
    )
    words = f"{label}: {total} report{'' if total == 1 else 's'} in the last 24 hours"
    if peak:
        words += f", at most {peak} in 15 minutes"
    return Markup(
        '<svg class="sparkline" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img"'
        ' aria-label="{words}"><title>{words}</title><polyline points="{points}" fill="none"'
        ' stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke"'
        ' stroke-linejoin="round"/></svg>'
    ).format(w=WIDTH, h=HEIGHT, words=words, points=points)
