"""Status badges in the shields.io style: a grey label and a coloured message, as a standalone SVG.

The colours are the darker shades the page uses for status text, so white lettering keeps a contrast of
at least 4.5:1 whatever the status. Widths come from rough per-character advances of 11 px Verdana, the
face shields.io measures with; near enough that the text never overflows its half.
"""

from __future__ import annotations

from markupsafe import Markup

from downradar.core.model import ComponentStatus

HEIGHT = 20
PADDING = 6
NARROW = frozenset("fijlrtI.,:;!|'()[] ")
WIDE = frozenset("mwMW@%")
COLOURS: dict[str, str] = {
    ComponentStatus.operational: "#17803e",
    ComponentStatus.degraded_performance: "#7d6300",
    ComponentStatus.partial_outage: "#a3500c",
    ComponentStatus.major_outage: "#b8321f",
    ComponentStatus.under_maintenance: "#1d6aa5",
}
UNKNOWN_COLOUR = "#5f6368"
LABEL_COLOUR = "#444"
MAX_TEXT = 48


def text_width(text: str) -> int:
    """Approximate rendered width in pixels of `text` in 11 px Verdana."""
    total = 0.0
    for char in text:
        if char in NARROW:
            total += 3.9
        elif char in WIDE or char.isupper():
            total += 8.6 if char in WIDE else 7.5
        else:
            total += 6.8
    return round(total)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def badge_svg(label: str, message: str, status: str | None) -> str:
    """A badge reading `label | message`, coloured by component `status` (grey when None or unknown)."""
    label, message = _clip(label), _clip(message)
    colour = COLOURS.get(status or "", UNKNOWN_COLOUR)
    label_w = text_width(label) + 2 * PADDING
    message_w = text_width(message) + 2 * PADDING
    width = label_w + message_w
    return str(
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"'
            ' role="img" aria-label="{label}: {message}">'
            "<title>{label}: {message}</title>"
            '<linearGradient id="shine" x2="0" y2="100%">'
            '<stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/>'
            "</linearGradient>"
            '<clipPath id="round"><rect width="{w}" height="{h}" rx="3" fill="#fff"/></clipPath>'
            '<g clip-path="url(#round)">'
            '<rect width="{lw}" height="{h}" fill="{label_colour}"/>'
            '<rect class="status" x="{lw}" width="{mw}" height="{h}" fill="{colour}"/>'
            '<rect width="{w}" height="{h}" fill="url(#shine)"/></g>'
            '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif"'
            ' font-size="11">'
            '<text x="{lx}" y="14">{label}</text><text x="{mx}" y="14">{message}</text></g></svg>'
        ).format(
            w=width,
            h=HEIGHT,
            lw=label_w,
            mw=message_w,
            lx=label_w / 2,
            mx=label_w + message_w / 2,
            label=label,
            message=message,
            colour=colour,
            label_colour=LABEL_COLOUR,
        )
    )
