"""Per-service incident state with hysteresis, vectorised over services.

Opening needs a high score on a window with enough distinct clients (the caller decides which scores
qualify); staying open needs only a moderate score on any window; closing needs a run of quiet minutes.
The gap between the two thresholds and the quiet run are what stop an incident flapping on noise or on
an intermittent failure, and the short quiet run is what stops it lingering once reports are back to
normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from downradar.detect.series import grown


@dataclass(frozen=True)
class Transitions:
    """Boolean masks over services for one minute (mutually exclusive)."""

    opened: NDArray[np.bool_]
    ongoing: NDArray[np.bool_]
    recovering: NDArray[np.bool_]
    closed: NDArray[np.bool_]

    @property
    def any(self) -> bool:
        """Whether any service has an incident open (or closing) this minute."""
        return bool(self.opened.any() or self.ongoing.any() or self.recovering.any() or self.closed.any())


class IncidentStates:
    def __init__(self) -> None:
        self.active: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.quiet: NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self.opened_at: NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def grow(self, services: int) -> None:
        self.active = grown(self.active, services)
        self.quiet = grown(self.quiet, services)
        self.opened_at = grown(self.opened_at, services)

    def step(
        self,
        minute: int,
        open_score: NDArray[np.floating],
        score: NDArray[np.floating],
        may_open: NDArray[np.bool_],
        open_threshold: float,
        close_threshold: float,
        quiet_minutes: int,
    ) -> Transitions:
        n = open_score.shape[0]
        active = self.active[:n]
        quiet = self.quiet[:n]
        opened = ~active & may_open & (open_score >= open_threshold)
        if not opened.any() and not active.any():  # the usual minute: nothing open, nothing opens
            none = np.zeros(n, dtype=bool)
            return Transitions(none, none, none, none)
        hot = score >= close_threshold
        quiet[:] = np.where(active & ~hot, quiet + 1, 0)
        closed = active & (quiet >= quiet_minutes)
        ongoing = active & hot
        recovering = active & ~hot & ~closed
        self.opened_at[:n][opened] = minute
        active[:] = (active | opened) & ~closed
        quiet[closed] = 0
        return Transitions(opened, ongoing, recovering, closed)
