"""What is broken where: rank a service's children by how far they depart from their own baseline.

Raw shares of reports mislead: a small region in trouble may still send fewer reports than a big healthy
one. So children are ranked by their *excess* (observed minus expected distinct reporters over the
recent window), and each carries both numbers: its share of the excess ("of the extra reports, 86 % come
from the US") and its share of all reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Share:
    value: str
    share: float  # 0..1 of the dimension's excess reports over baseline
    reports_share: float  # 0..1 of the dimension's reports
    reports: int  # distinct reporters in the window
    expected: float  # expected distinct reporters in the window
    score: float  # -log10 tail probability of the child's own window count

    @property
    def label(self) -> str:
        return f"{self.value} {round(self.share * 100)} %"


def rank(
    values: Sequence[str],
    observed: NDArray[np.number],  # whole counts, possibly summed as floats
    expected: NDArray[np.floating],
    scores: NDArray[np.floating],
    top: int,
) -> tuple[Share, ...]:
    """The `top` children with reports, largest excess first (ties: more reports first)."""
    if len(values) == 0:
        return ()
    observed = np.asarray(observed, dtype=np.int64)
    excess = np.maximum(observed - expected, 0.0)
    total_excess = float(excess.sum())
    total_reports = int(observed.sum())
    order = np.lexsort((-observed, -excess))
    out: list[Share] = []
    for i in order[:top]:
        if observed[i] <= 0:
            break
        out.append(
            Share(
                value=values[i],
                share=float(excess[i]) / total_excess if total_excess > 0 else 0.0,
                reports_share=int(observed[i]) / total_reports,
                reports=int(observed[i]),
                expected=float(expected[i]),
                score=float(scores[i]),
            )
        )
    return tuple(out)


def describe(parts: Sequence[Sequence[Share]]) -> str:
    """'conversations 40 %, login 10 %; US 86 %' — one group per dimension, empty groups left out."""
    return "; ".join(", ".join(s.label for s in group) for group in parts if group)
