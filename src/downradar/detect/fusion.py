"""Fusion: user reports, probe verdicts and the provider's own page, per service and minute, into one
decision about an incident and how bad it is.

Any one signal can open an incident: a report surge (the detector's finding), a probe down by quorum, or
the provider admitting a problem. The episode lasts while any signal is active; it recovers when none is,
and closes when the report detector closes its episode or, for an episode reports took no part in, after
`quiet_minutes` without a signal. When two or three kinds of signal agree, the impact is raised one step
(minor -> major -> critical): independent views of the same failure leave little room for doubt.

Pure and deterministic, like the rest of detect/: the live server and replays feed it the same records.
With reports alone it gives exactly the report detector's decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from downradar.core.model import ComponentStatus, UpstreamState, component_severity
from downradar.detect.probe_state import ProbeVerdict
from downradar.detect.results import Finding, ImpactLevel, State, TickResult

Signal = Literal["reports", "probes", "official"]
SIGNAL_ORDER: tuple[Signal, ...] = ("reports", "probes", "official")
SIGNAL_NAMES: dict[str, str] = {
    "reports": "user reports",
    "probes": "probes",
    "official": "the official status page",
}
_LEVELS: tuple[ImpactLevel, ...] = ("minor", "major", "critical")


@dataclass(frozen=True)
class FusionConfig:
    quiet_minutes: int = 3  # an episode without reports closes after this many minutes without a signal
    raise_on_agreement: bool = True


@dataclass(frozen=True)
class FusedFinding:
    """One service's fused state in one minute (for every service with an episode open or closing now)."""

    service: str
    state: State
    minute: datetime
    opened_at: datetime
    impact: ImpactLevel
    signals: tuple[Signal, ...]  # the kinds of signal active now, in SIGNAL_ORDER
    reports: Finding | None  # the report detector's finding this minute, if it has one
    probes: tuple[ProbeVerdict, ...]  # the service's probes that are down by quorum
    official: UpstreamState | None  # the provider's state, when it admits a problem
    score: float

    @property
    def components(self) -> dict[str, str]:
        """Component slug -> Statuspage status from probes and the official page (worst wins)."""
        out: dict[str, str] = {}
        if self.official is not None:
            for slug, status in self.official.components.items():
                out[slug] = _worse(out.get(slug), status)
        for verdict in self.probes:
            if verdict.rule.component:
                out[verdict.rule.component] = ComponentStatus.major_outage.value
        return out

    @staticmethod
    def from_reports(finding: Finding) -> FusedFinding:
        """The fused view of a report finding when nothing else is known (reports-only callers)."""
        active = finding.state in ("opened", "ongoing")
        return FusedFinding(
            service=finding.service,
            state=finding.state,
            minute=finding.minute,
            opened_at=finding.opened_at,
            impact=finding.impact,
            signals=("reports",) if active else (),
            reports=finding,
            probes=(),
            official=None,
            score=finding.score,
        )


def _worse(a: str | None, b: str) -> str:
    if a is None:
        return b
    return a if component_severity(a) >= component_severity(b) else b


@dataclass
class _Episode:
    opened_at: datetime
    quiet: int = 0
    reports_took_part: bool = False
    signals: set[str] = field(default_factory=set)


class Fusion:
    def __init__(self, config: FusionConfig | None = None) -> None:
        self.config = config or FusionConfig()
        self._open: dict[str, _Episode] = {}

    def open_services(self) -> set[str]:
        return set(self._open)

    def step(
        self,
        reports: TickResult,
        probes: Iterable[ProbeVerdict] = (),
        official: Mapping[str, UpstreamState] | None = None,
    ) -> tuple[FusedFinding, ...]:
        """Decide one minute. `probes` are the verdicts of every probe (down or not) at the minute's end;
        `official` the providers' current states by service."""
        official = official or {}
        by_service: dict[str, list[ProbeVerdict]] = {}
        for verdict in probes:
            by_service.setdefault(verdict.service, []).append(verdict)
        admitting = {service: state for service, state in official.items() if state.admits_problem}
        down_services = {s for s, verdicts in by_service.items() if any(v.down for v in verdicts)}
        services = [f.service for f in reports.findings] + sorted(
            down_services | set(admitting) | set(self._open)
        )
        out: list[FusedFinding] = []
        seen: set[str] = set()
        for service in services:
            if service in seen:
                continue
            seen.add(service)
            fused = self._decide(
                service,
                reports.finding(service),
                by_service.get(service, []),
                admitting.get(service),
                reports.minute,
            )
            if fused is not None:
                out.append(fused)
        return tuple(out)

    def _decide(
        self,
        service: str,
        finding: Finding | None,
        verdicts: Sequence[ProbeVerdict],
        official: UpstreamState | None,
        minute: datetime,
    ) -> FusedFinding | None:
        down = tuple(v for v in verdicts if v.down)
        reports_active = finding is not None and finding.state in ("opened", "ongoing")
        signals: tuple[Signal, ...] = tuple(
            s
            for s, active in zip(
                SIGNAL_ORDER, (reports_active, bool(down), official is not None), strict=True
            )
            if active
        )
        episode = self._open.get(service)
        if episode is None:
            if not signals:
                return None
            starts = []
            if reports_active and finding is not None:
                starts.append(finding.opened_at)
            starts += [v.since for v in down if v.since is not None]
            if official is not None:
                starts.append(official.admitted_at)
            episode = self._open[service] = _Episode(opened_at=min(starts, default=minute))
            state: State = "opened"
        elif signals:
            state = "ongoing"
            episode.quiet = 0
        elif finding is not None and finding.state == "recovering":
            state = "recovering"
        else:
            episode.quiet += 1
            reports_done = finding is not None and finding.state == "closed"
            if reports_done or (not episode.reports_took_part and episode.quiet >= self.config.quiet_minutes):
                state = "closed"
            elif episode.reports_took_part and finding is None:
                state = "closed"  # the report detector's episode ended earlier (e.g. closed during a gap)
            else:
                state = "recovering"
        episode.reports_took_part = episode.reports_took_part or reports_active
        episode.signals.update(signals)
        if state == "closed":
            del self._open[service]
        return FusedFinding(
            service=service,
            state=state,
            minute=minute,
            opened_at=episode.opened_at,
            impact=self._impact(finding if reports_active else None, down, verdicts, official, signals)
            if signals or finding is None
            else finding.impact,
            signals=signals,
            reports=finding,
            probes=down,
            official=official,
            score=finding.score if finding is not None else 0.0,
        )

    def _impact(
        self,
        finding: Finding | None,
        down: Sequence[ProbeVerdict],
        verdicts: Sequence[ProbeVerdict],
        official: UpstreamState | None,
        signals: Sequence[Signal],
    ) -> ImpactLevel:
        levels: list[int] = []
        if finding is not None:
            levels.append(_LEVELS.index(finding.impact))
        if down:
            levels.append(1 if len(down) == len(verdicts) else 0)  # every probe of the service: major
        if official is not None:
            indicator = official.indicator if official.indicator in _LEVELS else "minor"
            levels.append(_LEVELS.index(indicator))
        if not levels:
            return "minor"
        level = max(levels)
        if self.config.raise_on_agreement and len(signals) >= 2:
            level = min(level + 1, len(_LEVELS) - 1)
        return _LEVELS[level]
