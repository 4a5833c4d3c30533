"""Where reports come from, as a world tile grid map: one labelled square per country, placed roughly by
geography and shaded by its share of the reports. Inline SVG, drawn on the server, nothing fetched.

A tile grid rather than country outlines: it needs no shape data, every country is the same size (so a
small country with many reports is as visible as a big one), and it stays legible on a phone. The map
repeats the regions table next to it, which is its text alternative; each tile has its own <title>.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from markupsafe import Markup

from downradar.core.catalog import region_name

# Each row lists two-letter country codes in their column; ".." is sea. Roughly: the Americas on the
# left, Europe and Africa in the middle, Asia and Oceania on the right.
GRID = """
.. .. .. .. .. .. GL .. .. .. IS .. .. NO SE FI .. .. .. .. .. .. .. .. .. .. ..
.. .. CA .. .. .. .. .. .. .. IE GB .. DK .. EE .. .. RU .. .. .. .. .. .. .. ..
.. .. US .. .. .. .. .. .. .. .. BE NL DE PL LV BY .. .. KZ .. MN .. .. .. .. ..
.. MX .. CU BS .. .. .. .. .. .. FR LU CZ SK LT UA .. .. UZ KG CN KP .. JP .. ..
.. GT BZ JM HT DO .. .. .. PT ES .. CH AT HU RO MD .. GE TM TJ .. KR .. .. .. ..
.. SV HN NI .. .. PR .. .. .. .. .. IT SI HR RS BG AM AZ AF PK NP BT TW .. .. ..
.. .. CR PA .. .. TT .. .. MA DZ TN MT BA ME MK GR TR .. IR IN BD MM HK .. .. ..
.. .. .. CO VE GY SR .. .. MR ML NE LY EG AL CY LB SY IQ KW LK .. TH LA VN .. ..
.. .. .. EC PE BR .. .. .. SN BF NG TD SD ER .. IL JO SA QA AE .. MY KH .. PH ..
.. .. .. .. BO PY .. .. GN CI GH CM CF SS ET SO .. .. YE OM .. .. SG ID .. .. ..
.. .. .. CL AR UY .. .. .. .. GA CG CD UG KE .. .. .. .. .. .. .. .. .. .. PG ..
.. .. .. .. .. .. .. .. .. .. .. AO ZM TZ RW .. .. .. .. .. .. .. .. .. AU .. ..
.. .. .. .. .. .. .. .. .. .. NA BW ZW MZ .. MG .. .. .. .. .. .. .. .. .. .. NZ
.. .. .. .. .. .. .. .. .. .. .. ZA .. .. .. .. .. .. .. .. .. .. .. .. .. .. ..
"""
TILE, GAP = 22, 2
SHADES = ("#fcd5ce", "#f4a582", "#e6604a", "#c0392b", "#8e1b10")  # light to dark: few to many reports
EMPTY = "#e9ebee"


def _tiles(grid: str) -> dict[str, tuple[int, int]]:
    tiles: dict[str, tuple[int, int]] = {}
    for row, line in enumerate(grid.strip().splitlines()):
        for column, code in enumerate(line.split()):
            if code != "..":
                if code in tiles:
                    raise ValueError(f"{code} is on the map twice")
                tiles[code] = (column, row)
    return tiles


TILES = _tiles(GRID)
COLUMNS = max(column for column, _ in TILES.values()) + 1
ROWS = max(row for _, row in TILES.values()) + 1


@dataclass(frozen=True)
class RegionShare:
    code: str  # ISO 3166 country ("US") or subdivision ("US-CA"); the map shades the country
    name: str
    share: float  # 0..1 of all reports in the window
    reports: int


@cache
def _country_name(code: str) -> str:
    return region_name(code) or code


def by_country(regions: Sequence[RegionShare]) -> dict[str, tuple[float, int]]:
    """Share and reports per country, subdivisions added to their country."""
    countries: dict[str, tuple[float, int]] = {}
    for region in regions:
        country = region.code.split("-", 1)[0].upper()
        share, reports = countries.get(country, (0.0, 0))
        countries[country] = (share + region.share, reports + region.reports)
    return countries


def shade(share: float, most: float) -> str:
    """The tile colour: five steps relative to the busiest country, so the top one is always darkest."""
    if share <= 0 or most <= 0:
        return EMPTY
    step = min(len(SHADES) - 1, int(len(SHADES) * share / most - 1e-9))
    return SHADES[step]


def unmapped(regions: Sequence[RegionShare]) -> list[str]:
    """Names of reported regions the grid has no tile for (they are still in the table)."""
    return [r.name for r in regions if r.code.split("-", 1)[0].upper() not in TILES]


def region_map(regions: Sequence[RegionShare], *, title: str, map_id: str = "region-map") -> Markup:
    """The tile map as accessible inline SVG; every text passes through markupsafe."""
    countries = by_country(regions)
    most = max((share for share, _ in countries.values()), default=0.0)
    step = TILE + GAP
    width, height = COLUMNS * step, ROWS * step
    mapped = [code for code in countries if code in TILES]
    desc = (
        f"{len(mapped)} countr{'y' if len(mapped) == 1 else 'ies'} with reports; darker is a larger share. "
        "The regions table lists the same figures."
        if mapped
        else "No reports with a region yet."
    )
    parts = [
        Markup(
            '<svg class="region-map" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc">'
        ).format(w=width, h=height, id=map_id),
        Markup('<title id="{id}-title">{title}</title>').format(id=map_id, title=title),
        Markup('<desc id="{id}-desc">{desc}</desc>').format(id=map_id, desc=desc),
    ]
    for code, (column, row) in TILES.items():
        share, reports = countries.get(code, (0.0, 0))
        fill = shade(share, most)
        if reports:
            noun = "report" if reports == 1 else "reports"
            label = f"{_country_name(code)}: {round(share * 100)}% ({reports} {noun})"
        else:
            label = f"{_country_name(code)}: no reports"
        ink = "#fff" if fill in SHADES[2:] else "#3c4043"
        parts.append(
            Markup(
                '<g class="tile{cls}"><title>{label}</title>'
                '<rect x="{x}" y="{y}" width="{s}" height="{s}" rx="3" fill="{fill}"/>'
                '<text x="{tx}" y="{ty}" fill="{ink}" font-size="8" text-anchor="middle"'
                ' dominant-baseline="central">{code}</text></g>'
            ).format(
                cls=" reported" if reports else "",
                label=label,
                x=column * step,
                y=row * step,
                s=TILE,
                fill=fill,
                tx=column * step + TILE / 2,
                ty=row * step + TILE / 2,
                ink=ink,
                code=code,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
