"""Series identity: which (service, dimension, value) lives at which row of the detector's arrays.

A *series* is one per-minute count of distinct reporters: a service's total, or one of its children (a
component, a region, a symptom). Rows are assigned on first sight and never move, so every per-series
quantity is a numpy array indexed by row, and one tick processes all series at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray

Dimension = Literal["service", "component", "region", "symptom"]
DIMENSIONS: tuple[Dimension, ...] = ("service", "component", "region", "symptom")
CHILD_DIMENSIONS: tuple[Dimension, ...] = DIMENSIONS[1:]

# The element type an array keeps through `grown` and the detector's `_widened`.
Scalar = TypeVar("Scalar", bound=np.generic)


class SeriesKey(NamedTuple):
    """One count series. The service total has dimension "service" and an empty value."""

    service: str
    dimension: Dimension = "service"
    value: str = ""

    @classmethod
    def total(cls, service: str) -> SeriesKey:
        return cls(service, "service", "")

    @property
    def is_total(self) -> bool:
        return self.dimension == "service"

    def label(self) -> str:
        return self.service if self.is_total else f"{self.service} {self.dimension}={self.value}"


def grown(array: NDArray[Scalar], rows: int, fill: float = 0) -> NDArray[Scalar]:
    """`array` with its first axis extended to `rows` (amortised doubling is the caller's job)."""
    if array.shape[0] >= rows:
        return array
    out = np.full((rows, *array.shape[1:]), fill, dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


class SeriesIndex:
    """Rows for series and for services, plus each service's children (for localisation)."""

    def __init__(self) -> None:
        self._rows: dict[SeriesKey, int] = {}
        self._keys: list[SeriesKey] = []
        self._service_rows: dict[str, int] = {}
        self.services: list[str] = []
        # Per series: the row of its service, and its dimension as an index into DIMENSIONS.
        self.service_of: NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self.dimension_of: NDArray[np.int8] = np.zeros(0, dtype=np.int8)
        # Per service: the series row of its total; its children's series rows.
        self.total_row: NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self.children: list[list[int]] = []

    @property
    def n_series(self) -> int:
        return len(self._keys)

    @property
    def n_services(self) -> int:
        return len(self.services)

    def key(self, row: int) -> SeriesKey:
        return self._keys[row]

    def row(self, key: SeriesKey) -> int | None:
        return self._rows.get(key)

    def service_row(self, service: str) -> int | None:
        return self._service_rows.get(service)

    def add(self, keys: Iterable[SeriesKey]) -> tuple[NDArray[np.int32], list[int], list[int]]:
        """Rows of `keys`, registering the unknown ones (a child brings its service's total along).

        Returns (rows, new service rows, new series rows) so the owner can initialise fresh state.
        """
        rows: list[int] = []
        new_services: list[int] = []
        new_series: list[int] = []
        for key in keys:
            found = self._rows.get(key)
            if found is None:
                if key.dimension not in DIMENSIONS:
                    raise ValueError(f"unknown dimension {key.dimension!r}; expected one of {DIMENSIONS}")
                if key.is_total and key.value:
                    raise ValueError("a service total has an empty value")
                if not key.is_total and not key.value:
                    raise ValueError(
                        f"{key.dimension} series need a value (absent fields count only in totals)"
                    )
                service = self._service_rows.get(key.service)
                if service is None:
                    service = self._new_service(key.service, new_series)
                    new_services.append(service)
                if key.is_total:
                    found = int(self.total_row[service])
                else:
                    found = self._new_series(key, service)
                    self.children[service].append(found)
                    new_series.append(found)
            rows.append(found)
        return np.asarray(rows, dtype=np.int32), new_services, new_series

    def _new_service(self, service: str, new_series: list[int]) -> int:
        row = len(self.services)
        self.services.append(service)
        self._service_rows[service] = row
        self.children.append([])
        self.total_row = grown(self.total_row, _capacity(row + 1))
        total = self._new_series(SeriesKey.total(service), row)
        self.total_row[row] = total
        new_series.append(total)
        return row

    def _new_series(self, key: SeriesKey, service: int) -> int:
        row = len(self._keys)
        self._keys.append(key)
        self._rows[key] = row
        self.service_of = grown(self.service_of, _capacity(row + 1))
        self.dimension_of = grown(self.dimension_of, _capacity(row + 1))
        self.service_of[row] = service
        self.dimension_of[row] = DIMENSIONS.index(key.dimension)
        return row


def _capacity(rows: int) -> int:
    """Next power of two: arrays double, so registering n series costs O(n) copies in total."""
    return 1 << max(rows - 1, 0).bit_length()
