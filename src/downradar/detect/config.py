"""The detector's tunables, with the reasoning behind each default.

Scores are in decimal orders of magnitude: score = −log10 P(X ≥ x | baseline), so 8 means "one chance in a
hundred million that normal traffic produces this many distinct reporters in this window". All constants
are global: they were tuned once against every scenario in tests/test_detect_scenarios.py, never per case.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DetectorConfig:
    # --- Windows and opening --------------------------------------------------------------------------
    # Surprise is scored over the last 1, 5 and 15 minutes: 1 catches a cliff at once, 15 catches a slow
    # or patchy rise. The longest should be the intake's dedup window (15), so its sum counts distinct
    # clients.
    windows: tuple[int, ...] = (1, 5, 15)
    # Open when any series of a service (its total or one component/region/symptom) scores this much on a
    # window that also passes the three guards below. With ~3 windows x 10^6 series x 1440 minutes a day, 8
    # keeps the pure-chance rate of a false opening far below one a day (the guards remove most tests).
    open_score: float = 8.0
    # A series only counts towards opening (and towards staying open and pausing learning) with at least
    # this many distinct clients in the longest window, which is the intake's 15-minute dedup window: a
    # flood from five clients is at most five per 15 minutes after dedup, so it never opens on its own.
    min_clients: int = 8
    # ... and only if it still scores `flood_score` after discounting up to `flood_allowance` of the
    # reporters of the 15 minutes before the window: a flood is re-counted every dedup window, so it was
    # already there, and five flooders plus three ordinary reporters on a tiny service must not look like
    # eight people hit by an outage. A fresh outage has nobody to discount.
    flood_allowance: int = 5
    flood_score: float = 3.0
    # ... and with at least this ratio of observed to expected: on a very busy series a tiny relative
    # rise is statistically certain but not an outage worth a page.
    min_ratio: float = 1.5
    # A service must have been observed this long before it may open an incident. During the warm-up it
    # learns from every minute (an empty baseline finds everything surprising).
    warmup_minutes: int = 360

    # --- Hysteresis --------------------------------------------------------------------------------------
    # An open incident is "ongoing" while any of its service's series scores at least this on a window
    # with min_clients reporters, "recovering" below it, and closes after `close_quiet_minutes`
    # consecutive recovering minutes. The 15-minute window plus the quiet run bridge the off-phases of an
    # intermittent failure; the short quiet run keeps a finished incident from lingering.
    close_score: float = 3.0
    close_quiet_minutes: int = 10

    # --- Learning ----------------------------------------------------------------------------------------
    # A service and all its child series stop learning for a minute when its total scores at least this,
    # or any of its series does on a window with min_clients reporters, or an incident is open: so an
    # outage or a slow degradation never becomes the new normal ...
    learn_score: float = 3.0
    # ... unless learning has been stopped for this long: then the "anomaly" is a change of normal (a
    # service that grew), and the service learns again, incident open or not.
    relearn_after_minutes: int = 24 * 60
    # Half-lives of the decayed estimates. The level tracks growth within days, and the extra-Poisson
    # dispersion forgets a misfit once the profile has learned it; shares of components, regions and
    # symptoms change more slowly.
    level_half_life_minutes: float = 3 * 24 * 60
    share_half_life_minutes: float = 7 * 24 * 60
    dispersion_half_life_minutes: float = 3 * 24 * 60
    # The hour-of-week profile is a running mean per slot that turns into an exponential average once a
    # slot has seen this many minutes (60 a week, so 240 is a memory of about four weeks). Max 255.
    profile_memory_minutes: int = 240
    # ... and starts learning (as does the dispersion) once the level has averaged over a whole day.
    profile_after_minutes: int = 24 * 60

    # Expectations and NB shapes are rebuilt from the learned state this often (and at each new hour and
    # new series): they move by well under a per cent in that time, and a tick stays cheap.
    refresh_minutes: int = 15

    # --- Priors (cold start and small counts) ---------------------------------------------------------
    # Gamma prior of a service's rate per minute: `level_prior_counts` reports over `level_prior_minutes`.
    level_prior_counts: float = 0.2
    level_prior_minutes: float = 10.0
    # Gamma prior of a child's share of its service's reports (in units of the service's reports).
    share_prior_counts: float = 0.5
    share_prior_exposure: float = 5.0
    # Shrinkage of the profile, in expected reports: a slot of the week needs about `profile_week_prior`
    # reports of its own before it may differ from the same hour on other days, and the hour-of-day shape
    # needs about `profile_day_prior` reports before it may differ from flat.
    profile_week_prior: float = 200.0
    profile_day_prior: float = 5.0
    # Extra-Poisson dispersion phi (variance = mu + phi mu^2), estimated once a series has seen about
    # `dispersion_prior` squared expected reports (a few days at one a minute); before, a child borrows
    # its service's and a service total is taken as Poisson. Capped to stay a count model.
    dispersion_prior: float = 1000.0
    dispersion_max: float = 1.0

    # --- Reporting ---------------------------------------------------------------------------------------
    # Impact suggested from the service total's ratio of observed to expected on its most surprising
    # window: below `major_ratio` minor, below `critical_ratio` major, else critical.
    major_ratio: float = 3.0
    critical_ratio: float = 10.0
    # The expected band is the central interval of the predictive distribution with this coverage.
    band_coverage: float = 0.99
    # How many components / regions / symptoms a finding lists.
    top_children: int = 3

    def __post_init__(self) -> None:
        if tuple(sorted(self.windows)) != self.windows or not self.windows or self.windows[-1] > 15:
            raise ValueError(
                "windows must be increasing minute counts, the longest at most 15 (the dedup window)"
            )
        if not 0 < self.close_score <= self.open_score:
            raise ValueError("close_score must be positive and at most open_score")
        if not 1 <= self.profile_memory_minutes <= 255:
            raise ValueError("profile_memory_minutes must be between 1 and 255")
        if self.min_clients < 1 or self.min_ratio < 1:
            raise ValueError("min_clients and min_ratio must be at least 1")
