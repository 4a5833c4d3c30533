"""The 24-hour report chart as inline SVG, drawn on the server so it works without JavaScript.

A pure function of the buckets: every number and label passes through markupsafe, so the markup it
returns can be placed in a template as is. Bar heights are `clients` (one per person in the dedup
window), the volume that says how many people are affected rather than how often one person retried.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from downradar.detect import Expectation
from downradar.store.report_series import BUCKET, Bucket
from downradar.web.timefmt import zone

# The SVG scales to the page width; a modest viewBox keeps its text legible on a phone.
WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 6, 16, 26
LABEL_EVERY_HOURS = 6
HALF_LABEL = 16  # about half an hour label's width: closer to a side, it is anchored to that side


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def report_chart(
    buckets: Sequence[Bucket],
    time_zone: str,
    *,
    title: str,
    chart_id: str = "chart",
    band: Sequence[Expectation] | None = None,
) -> Markup:
    """An accessible bar chart of reports per 15 minutes, hour labels in the page's time zone.

    With `band` (the detector's expectation per bucket), the usual level and its band are drawn under
    the bars, so a climb past normal is visible at a glance.
    """
    tz = zone(time_zone)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    step = plot_w / max(len(buckets), 1)
    busiest = max(buckets, key=lambda b: b.clients, default=None)
    most = busiest.clients if busiest else 0
    peak = most  # the top of the scale: the busiest bucket, or the band where it reaches higher
    if band:
        peak = max(peak, round(max(e.high for e in band) + 0.5))
    total = sum(b.clients for b in buckets)
    if most and busiest:
        peak_at = busiest.start.astimezone(tz)
        desc = (
            f"{total} reports in all, counting each person once per 15 minutes; "
            f"the most, {most}, in the 15 minutes from {peak_at:%H:%M} {peak_at.tzname()}."
        )
    else:
        desc = "No reports in this period."
    if band:
        usual = sum(e.expected for e in band) / len(band)
        desc += f" The usual level is about {usual:.0f} per 15 minutes (shaded band)."

    parts = [
        Markup(
            '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc">'
        ).format(w=WIDTH, h=HEIGHT, id=chart_id),
        Markup('<title id="{id}-title">{title}</title>').format(id=chart_id, title=title),
        Markup('<desc id="{id}-desc">{desc}</desc>').format(id=chart_id, desc=desc),
        Markup('<g class="axis" font-size="12" fill="#555">'),
        Markup('<text x="{x}" y="{y}" text-anchor="end" dominant-baseline="middle">{n}</text>').format(
            x=LEFT - 5, y=TOP, n=peak
        ),
        Markup('<text x="{x}" y="{y}" text-anchor="end" dominant-baseline="middle">0</text>').format(
            x=LEFT - 5, y=base
        ),
    ]
    for index, bucket in enumerate(buckets):
        local = bucket.start.astimezone(tz)
        if local.minute or local.hour % LABEL_EVERY_HOURS:
            continue
        x = LEFT + index * step
        anchor = "start" if x < HALF_LABEL else "end" if x > WIDTH - HALF_LABEL else "middle"
        parts.append(
            Markup('<line class="tick" x1="{x}" x2="{x}" y1="{y1}" y2="{y2}" stroke="#999"/>').format(
                x=_num(x), y1=base, y2=base + 4
            )
        )
        parts.append(
            Markup('<text x="{x}" y="{y}" text-anchor="{a}">{label}</text>').format(
                x=_num(x), y=HEIGHT - 6, a=anchor, label=f"{local:%H}:00"
            )
        )
    parts.append(Markup("</g>"))
    if peak:
        parts.append(
            Markup(
                '<line class="grid" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"'
                ' stroke="#ddd" stroke-dasharray="3 3"/>'
            ).format(x1=LEFT, x2=WIDTH - RIGHT, y=TOP)
        )
    if band and peak:
        parts.append(_band(band, step, base, plot_h, peak))
    parts.append(Markup('<g class="bars" fill="#e74c3c">'))
    for index, bucket in enumerate(buckets):
        height = plot_h * bucket.clients / peak if peak else 0
        start = bucket.start.astimezone(tz)
        end = (bucket.start + BUCKET).astimezone(tz)
        noun = "report" if bucket.clients == 1 else "reports"
        parts.append(
            Markup(
                '<rect class="bar" x="{x}" y="{y}" width="{w}" height="{h}">'
                "<title>{label}: {n} {noun}</title></rect>"
            ).format(
                x=_num(LEFT + index * step + step * 0.1),
                y=_num(base - height),
                w=_num(step * 0.8),
                h=_num(height),
                label=f"{start:%a %H:%M}–{end:%H:%M} {end.tzname()}",
                n=bucket.clients,
                noun=noun,
            )
        )
    parts.append(Markup("</g>"))
    parts.append(
        Markup('<line class="baseline" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="#999"/>').format(
            x1=LEFT, x2=WIDTH - RIGHT, y=base
        )
    )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _band(band: Sequence[Expectation], step: float, base: float, plot_h: float, peak: float) -> Markup:
    """The usual level as a shaded band (low to high) with a line at the expectation, stepped per bucket."""

    def y(value: float) -> str:
        return _num(base - plot_h * min(value, peak) / peak)

    upper, lower, middle = [], [], []
    for index, expectation in enumerate(band):
        x0, x1 = _num(LEFT + index * step), _num(LEFT + (index + 1) * step)
        upper += [f"{x0},{y(expectation.high)}", f"{x1},{y(expectation.high)}"]
        lower += [f"{x0},{y(expectation.low)}", f"{x1},{y(expectation.low)}"]
        middle += [f"{x0},{y(expectation.expected)}", f"{x1},{y(expectation.expected)}"]
    return Markup(
        '<g class="usual"><polygon points="{area}" fill="#cfe0f3"/>'
        '<polyline points="{line}" fill="none" stroke="#2c7bb6" stroke-width="1"/></g>'
    ).format(area=" ".join(upper + lower[::-1]), line=" ".join(middle))
