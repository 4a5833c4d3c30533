"""Probe results in, per-probe verdicts out: each location's up/down with hysteresis, then a quorum.

A location counts a probe as down after `fail_after` failed checks in a row and up again after
`recover_after` successes in a row, so one lost packet never counts. The probe is down when at least
`quorum` of the locations that reported recently see it down (by default more than half of them), so a
single flaky location among several never is. Pure: results and times in, verdicts out; the live server
and replays feed it the same records in time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from downradar.core.model import ProbeResult

STALE_INTERVALS = 3  # a location that has not reported for this many intervals no longer has a say
MIN_STALE = timedelta(minutes=3)


@dataclass(frozen=True)
class ProbeRule:
    """What the tracker needs of a probe's definition."""

    service: str
    component: str | None = None
    name: str = ""
    interval_seconds: float = 60.0
    fail_after: int = 3
    recover_after: int = 2
    quorum: int | None = None

    def needed(self, reporting: int) -> int:
        """Locations that must agree, out of those reporting."""
        if self.quorum is not None:
            return self.quorum
        return reporting // 2 + 1

    @property
    def stale_after(self) -> timedelta:
        return max(MIN_STALE, timedelta(seconds=self.interval_seconds * STALE_INTERVALS))


def rule_for(probe: str) -> ProbeRule:
    """The defaults for a probe nobody defined (a replay stream naming it): service from its key."""
    return ProbeRule(service=probe.split(".", 1)[0])


@dataclass
class _LocationState:
    down: bool = False
    failures: int = 0  # consecutive
    successes: int = 0
    failing_since: datetime | None = None  # the first failure of the current run of failures
    down_since: datetime | None = None
    last_ts: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class ProbeVerdict:
    """A probe's state across locations at one moment."""

    probe: str
    rule: ProbeRule
    down: bool
    locations_down: tuple[str, ...]
    locations: tuple[str, ...]  # those reporting recently
    needed: int
    since: datetime | None  # when the agreeing locations' failures began (the earliest)
    last_error: str | None

    @property
    def service(self) -> str:
        return self.rule.service

    def describe(self) -> str:
        """e.g. 'API probe down from 2 of 3 locations (eu, us): status 503 not in 200-399'."""
        name = self.rule.name or self.probe.split(".", 1)[-1]
        where = ", ".join(self.locations_down)
        text = (
            f"{name} probe down from {len(self.locations_down)} of {len(self.locations)} locations ({where})"
        )
        return f"{text}: {self.last_error}" if self.last_error else text


@dataclass
class ProbeTracker:
    rules: dict[str, ProbeRule] = field(default_factory=dict)
    _states: dict[str, dict[str, _LocationState]] = field(default_factory=dict)

    def set_rules(self, rules: Mapping[str, ProbeRule]) -> None:
        """Replace the definitions; state is kept for probes that stay, dropped for those that go."""
        self.rules = dict(rules)
        for gone in set(self._states) - set(self.rules):
            del self._states[gone]

    def observe(self, results: Iterable[ProbeResult]) -> None:
        """Fold results in, in time order per (probe, location); older than the last one seen: ignored."""
        for result in results:
            rule = self.rules.get(result.probe)
            if rule is None:
                rule = self.rules[result.probe] = rule_for(result.probe)
            state = self._states.setdefault(result.probe, {}).setdefault(result.location, _LocationState())
            if state.last_ts is not None and result.ts < state.last_ts:
                continue
            if state.last_ts is not None and result.ts - state.last_ts > rule.stale_after:
                # Back after going silent: what the location saw before says nothing about now.
                state = self._states[result.probe][result.location] = _LocationState()
            state.last_ts = result.ts
            if result.ok:
                state.successes += 1
                state.failures = 0
                state.failing_since = None
                if state.down and state.successes >= rule.recover_after:
                    state.down, state.down_since = False, None
            else:
                state.failures += 1
                state.successes = 0
                state.last_error = result.error
                if state.failing_since is None:
                    state.failing_since = result.ts
                if not state.down and state.failures >= rule.fail_after:
                    state.down, state.down_since = True, state.failing_since

    def verdict(self, probe: str, now: datetime) -> ProbeVerdict:
        rule = self.rules.get(probe) or rule_for(probe)
        fresh = {
            location: state
            for location, state in self._states.get(probe, {}).items()
            if state.last_ts is not None and now - state.last_ts <= rule.stale_after
        }
        down = sorted(location for location, state in fresh.items() if state.down)
        needed = rule.needed(len(fresh))
        agree = bool(fresh) and len(down) >= needed
        since = min((s for d in down if (s := fresh[d].down_since) is not None), default=None)
        errors = [fresh[d].last_error for d in down if fresh[d].last_error]
        return ProbeVerdict(
            probe=probe,
            rule=rule,
            down=agree,
            locations_down=tuple(down),
            locations=tuple(sorted(fresh)),
            needed=needed,
            since=since,
            last_error=errors[0] if errors else None,
        )

    def verdicts(self, now: datetime) -> list[ProbeVerdict]:
        """Every known probe's verdict at `now`, in key order."""
        return [self.verdict(probe, now) for probe in sorted(set(self.rules) | set(self._states))]

    def location_states(self, probe: str) -> dict[str, bool]:
        """Each location's own view (True: down), whatever the quorum says."""
        return {location: state.down for location, state in self._states.get(probe, {}).items()}
