"""The seasonal part of the baseline: one hour-of-week profile per service, shrunk where data are thin.

Expected distinct reporters of a service in minute t = level x profile factor of t's hour of the week.
Only services carry a profile (168 float32 + 168 uint8 visit counters = 840 bytes); components, regions
and symptoms are shares of their service's expectation, so they inherit its rhythm for a few bytes.

A slot's raw estimate is the running mean (later an exponential average) of count / level over the
minutes it has seen. A quiet service sees a handful of reports per slot per week, so the factor used is
shrunk twice, in units of *expected reports* (the evidence a slot really has): a slot of the week towards
the same hour on the other days, that hour-of-day shape towards flat. The evidence left over also tells
how uncertain the factor is; it enters the predictive distribution as an NB shape (see detector.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SLOTS = 168
HOURS_PER_DAY = 24
# 1970-01-01 was a Thursday; slot 0 is Monday 00:00-01:00 UTC, which first began at epoch minute 5760.
_MONDAY_MINUTE = 4 * 24 * 60


def slot_of(minute: int) -> int:
    """Hour-of-week slot (0 = Monday 00h UTC) of an epoch minute."""
    return ((minute - _MONDAY_MINUTE) // 60) % SLOTS


class Profiles:
    """Hour-of-week profiles of all services, stored slot-major so one slot is one contiguous row."""

    def __init__(self, week_prior: float, day_prior: float, memory: int) -> None:
        self.week_prior = week_prior
        self.day_prior = day_prior
        self.memory = memory
        self.ratio: NDArray[np.float32] = np.ones((SLOTS, 0), dtype=np.float32)
        self.visits: NDArray[np.uint8] = np.zeros((SLOTS, 0), dtype=np.uint8)

    def grow(self, services: int) -> None:
        if self.ratio.shape[1] >= services:
            return
        ratio = np.ones((SLOTS, services), dtype=np.float32)
        visits = np.zeros((SLOTS, services), dtype=np.uint8)
        ratio[:, : self.ratio.shape[1]] = self.ratio
        visits[:, : self.visits.shape[1]] = self.visits
        self.ratio, self.visits = ratio, visits

    def factor(
        self, slot: int, level: NDArray[np.floating], services: slice | NDArray[np.integer] = slice(None)
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(factor, evidence) of `slot` for `services` whose level (reports/minute) is `level`.

        evidence ~ how many expected reports back the factor: 1/evidence is its squared relative error.
        """
        level = np.asarray(level, dtype=np.float64)
        n_h = self.visits[slot, services].astype(np.float64)
        p_h = self.ratio[slot, services].astype(np.float64)
        same_hour = slot % HOURS_PER_DAY + HOURS_PER_DAY * np.arange(SLOTS // HOURS_PER_DAY)
        n_d = self.visits[same_hour][:, services].astype(np.float64)
        p_d = self.ratio[same_hour][:, services].astype(np.float64)
        week_reports = n_h * p_h * level
        day_reports = (n_d * p_d).sum(axis=0) * level
        day_exposure = n_d.sum(axis=0) * level
        day = (day_reports + self.day_prior) / (day_exposure + self.day_prior)
        factor = (week_reports + self.week_prior * day) / (n_h * level + self.week_prior)
        # The other days' data can vouch for this slot only up to the weight the week prior gives them.
        evidence = week_reports + np.minimum(day_reports - week_reports, self.week_prior) + self.day_prior
        return factor, evidence

    def learn(self, slot: int, ratio: NDArray[np.floating], mask: NDArray[np.bool_]) -> None:
        """Fold count/level of the current minute into `slot` for the services where `mask` holds."""
        visits = self.visits[slot, : mask.shape[0]]
        current = self.ratio[slot, : mask.shape[0]]
        seen = np.minimum(visits.astype(np.int32) + 1, self.memory)
        step = (ratio - current) / seen
        self.ratio[slot, : mask.shape[0]] = np.where(mask, current + step, current)
        self.visits[slot, : mask.shape[0]] = np.where(mask, seen, visits).astype(np.uint8)
