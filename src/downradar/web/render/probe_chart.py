"""A probe's last hour as a small inline SVG: latency per minute as a line, failed minutes as red ticks.

Like chart.py, a pure function whose every number passes through markupsafe, so the markup can be placed
in a template as is; it needs no JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from downradar.probes.results import MinutePoint

WIDTH, HEIGHT = 240, 48
TOP, BOTTOM = 4, 10  # the failure ticks live in the bottom strip


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def probe_chart(points: Sequence[MinutePoint], *, title: str, chart_id: str) -> Markup:
    """Latency (average per minute) and failures over `points`, oldest first."""
    n = max(len(points), 1)
    step = WIDTH / n
    latencies = [p.latency_ms_avg for p in points if p.latency_ms_avg is not None]
    top = max(latencies, default=0.0) or 1.0
    plot_h = HEIGHT - TOP - BOTTOM
    coords = [
        f"{_num((i + 0.5) * step)},{_num(TOP + plot_h * (1 - p.latency_ms_avg / top))}"
        for i, p in enumerate(points)
        if p.latency_ms_avg is not None
    ]
    failed = [(i, p) for i, p in enumerate(points) if p.failures]
    checks = sum(p.checks for p in points)
    failures = sum(p.failures for p in points)
    desc = (
        f"{checks} checks, {failures} failed; slowest minute averaged {round(top)} ms."
        if checks
        else "No checks in this period."
    )
    parts = [
        Markup('<svg class="probe-chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{t} {d}">').format(
            w=WIDTH, h=HEIGHT, t=f"{chart_id}-t", d=f"{chart_id}-d"
        ),
        Markup('<title id="{i}-t">{title}</title><desc id="{i}-d">{desc}</desc>').format(
            i=chart_id, title=title, desc=desc
        ),
        Markup('<rect class="probe-chart-bg" x="0" y="0" width="{w}" height="{h}"></rect>').format(
            w=WIDTH, h=HEIGHT
        ),
    ]
    if coords:
        parts.append(
            Markup('<polyline class="probe-latency" points="{p}"></polyline>').format(p=" ".join(coords))
        )
    for i, point in failed:
        share = point.failures / point.checks if point.checks else 1.0
        parts.append(
            Markup(
                '<rect class="probe-failed" x="{x}" y="{y}" width="{w}" height="{h}" opacity="{o}"></rect>'
            ).format(
                x=_num(i * step),
                y=HEIGHT - BOTTOM + 2,
                w=_num(max(step, 1.5)),
                h=BOTTOM - 2,
                o=_num(0.4 + 0.6 * share),
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
