"""Probe verdicts, fusion of reports, probes and the provider's page, and the incidents they lead to.

Pure and fast: the tracker and fusion get hand-built records; the end-to-end part runs a replay stream of
probe results and provider states through the same tracker, fusion and incident code as the live server,
on the replay's in-memory store.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from downradar.core.catalog import Catalog, Page, Service
from downradar.core.model import ProbeResult, UpstreamIncident, UpstreamState
from downradar.detect import Finding, SeriesKey, Share, TickResult
from downradar.detect.fusion import FusedFinding, Fusion, FusionConfig
from downradar.detect.probe_state import ProbeRule, ProbeTracker, ProbeVerdict
from downradar.detect.results import ImpactLevel, State
from downradar.detection.replay import Replay, ReplayStats, replay_file
from downradar.incidents.automatic import AutomaticIncidents
from downradar.probes.spec import ProbeSpec
from downradar.store.schema import incident_updates, incidents

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PROBE = "chatgpt.api"
ERROR = "status 503 not in 200-399"


def at(minutes: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- the tracker ------------------------------------------------------------------------------------------


def check(minute: float, ok: bool, location: str = "eu", probe: str = PROBE) -> ProbeResult:
    return ProbeResult(
        probe=probe,
        location=location,
        ts=at(minute),
        ok=ok,
        latency_ms=80.0 if ok else 812.5,
        status_code=200 if ok else 503,
        error=None if ok else ERROR,
    )


def tracker(**rule: Any) -> ProbeTracker:
    found = ProbeTracker()
    found.set_rules({PROBE: ProbeRule(service="chatgpt", name="API", **rule)})
    return found


def runs(location: str, first: int, oks: Iterable[bool]) -> list[ProbeResult]:
    """One check a minute from `first` on, ok or failed as given."""
    return [check(first + i, ok, location) for i, ok in enumerate(oks)]


def test_two_failures_of_three_needed_are_not_down() -> None:
    probes = tracker()
    probes.observe(runs("eu", 0, [True, False, False]))
    verdict = probes.verdict(PROBE, at(3))
    assert not verdict.down
    assert verdict.locations == ("eu",)
    assert verdict.locations_down == ()
    assert probes.location_states(PROBE) == {"eu": False}


def test_three_failures_are_down_since_the_first() -> None:
    probes = tracker()
    probes.observe(runs("eu", 0, [True, False, False, False]))
    verdict = probes.verdict(PROBE, at(4))
    assert verdict.down
    assert verdict.locations_down == ("eu",)
    assert verdict.since == at(1)
    assert verdict.last_error == ERROR
    assert verdict.service == "chatgpt"


def test_one_success_keeps_it_down_two_bring_it_up() -> None:
    probes = tracker()
    probes.observe(runs("eu", 0, [False, False, False, True]))
    assert probes.verdict(PROBE, at(4)).down
    assert probes.verdict(PROBE, at(4)).since == at(0)  # a lone success does not restart the episode
    probes.observe([check(4, True)])
    verdict = probes.verdict(PROBE, at(5))
    assert not verdict.down
    assert verdict.since is None


def test_recovery_needs_successes_in_a_row() -> None:
    probes = tracker()
    probes.observe(runs("eu", 0, [False, False, False, True, False, True]))
    assert probes.verdict(PROBE, at(6)).down  # successes must be in a row
    probes.observe([check(6, True)])
    assert not probes.verdict(PROBE, at(7)).down


def test_an_older_result_than_the_last_one_seen_is_ignored() -> None:
    probes = tracker()
    probes.observe(runs("eu", 5, [False, False]))
    probes.observe([check(4, False)])  # arrives late: would be the third failure in a row
    assert not probes.verdict(PROBE, at(7)).down
    probes.observe([check(7, False)])
    assert probes.verdict(PROBE, at(8)).since == at(5)
    probes.observe([check(1, True), check(2, True)])  # late successes do not bring it up
    assert probes.verdict(PROBE, at(8)).down


def test_custom_fail_after_and_recover_after() -> None:
    probes = tracker(fail_after=1, recover_after=3)
    probes.observe([check(0, False)])
    assert probes.verdict(PROBE, at(1)).down
    probes.observe(runs("eu", 1, [True, True]))
    assert probes.verdict(PROBE, at(3)).down
    probes.observe([check(3, True)])
    assert not probes.verdict(PROBE, at(4)).down


def three_locations(down: Iterable[str], **rule: Any) -> ProbeTracker:
    probes = tracker(**rule)
    for location in ("ap", "eu", "us"):
        probes.observe(runs(location, 0, [location not in down] * 3))
    return probes


def test_quorum_is_a_majority_of_the_locations_reporting() -> None:
    one = three_locations({"eu"}).verdict(PROBE, at(3))
    assert not one.down
    assert one.needed == 2
    assert one.locations == ("ap", "eu", "us")
    assert one.locations_down == ("eu",)
    two = three_locations({"eu", "us"}).verdict(PROBE, at(3))
    assert two.down
    assert two.locations_down == ("eu", "us")
    assert two.since == at(0)


def test_an_explicit_quorum_of_one_is_enough() -> None:
    verdict = three_locations({"us"}, quorum=1).verdict(PROBE, at(3))
    assert verdict.down
    assert verdict.needed == 1
    assert verdict.locations_down == ("us",)


def test_a_location_that_stopped_reporting_no_longer_counts() -> None:
    probes = tracker()
    probes.observe(runs("us", 0, [True] * 3))  # us stops after minute 2
    probes.observe(runs("eu", 0, [False] * 8))
    assert probes.verdict(PROBE, at(5)).locations == ("eu", "us")  # 3 minutes: still has a say
    assert not probes.verdict(PROBE, at(5)).down  # 1 of 2: no majority
    verdict = probes.verdict(PROBE, at(5, 1))
    assert verdict.locations == ("eu",)
    assert verdict.needed == 1
    assert verdict.down


def test_a_location_back_after_going_stale_starts_afresh() -> None:
    probes = tracker()
    probes.observe(runs("eu", 0, [False] * 3))  # down since minute 0, then the agent goes away
    assert not probes.verdict(PROBE, at(60)).down
    probes.observe([check(120, False)])
    assert not probes.verdict(PROBE, at(121)).down  # one failure is not three in a row
    probes.observe(runs("eu", 121, [False, False]))
    assert probes.verdict(PROBE, at(123)).since == at(120)


def test_stale_after_is_three_intervals_but_at_least_three_minutes() -> None:
    assert ProbeRule(service="s", interval_seconds=120).stale_after == timedelta(minutes=6)
    assert ProbeRule(service="s", interval_seconds=10).stale_after == timedelta(minutes=3)


def test_no_fresh_locations_is_not_down() -> None:
    probes = tracker()
    probes.observe(runs("eu", 0, [False] * 5))
    assert probes.verdict(PROBE, at(5)).down
    verdict = probes.verdict(PROBE, at(30))
    assert not verdict.down
    assert verdict.locations == ()
    assert verdict.since is None
    assert not ProbeTracker().verdict("nobody.knows", at(0)).down


def test_describe_names_the_probe_the_locations_and_the_error() -> None:
    verdict = three_locations({"eu", "us"}).verdict(PROBE, at(3))
    assert verdict.describe() == f"API probe down from 2 of 3 locations (eu, us): {ERROR}"
    unnamed = ProbeTracker()
    unnamed.observe([ProbeResult("chatgpt.login", "eu", at(i), ok=False, latency_ms=None) for i in range(3)])
    assert unnamed.verdict("chatgpt.login", at(3)).describe() == "login probe down from 1 of 1 locations (eu)"


def test_results_for_a_probe_nobody_defined_use_the_defaults() -> None:
    probes = ProbeTracker()
    probes.observe([check(i, False, probe="claude.web") for i in range(3)])
    verdict = probes.verdict("claude.web", at(3))
    assert verdict.down
    assert verdict.service == "claude"
    assert [v.probe for v in probes.verdicts(at(3))] == ["claude.web"]


def test_set_rules_keeps_the_state_of_probes_that_stay_and_drops_the_others() -> None:
    probes = ProbeTracker()
    probes.set_rules({PROBE: ProbeRule("chatgpt"), "chatgpt.web": ProbeRule("chatgpt")})
    probes.observe(
        [check(i, False) for i in range(3)] + [check(i, False, probe="chatgpt.web") for i in range(3)]
    )
    probes.set_rules({PROBE: ProbeRule("chatgpt", name="API")})
    assert probes.verdict(PROBE, at(3)).down
    assert probes.location_states("chatgpt.web") == {}
    assert [v.probe for v in probes.verdicts(at(3))] == [PROBE]


# -- fusion -----------------------------------------------------------------------------------------------

API = ProbeRule(service="chatgpt", name="API", component="api")
WEB = ProbeRule(service="chatgpt", name="Web")


def verdict(
    down: bool, since: datetime | None = None, rule: ProbeRule = API, probe: str = PROBE
) -> ProbeVerdict:
    return ProbeVerdict(
        probe=probe,
        rule=rule,
        down=down,
        locations_down=("eu", "us") if down else (),
        locations=("eu", "us"),
        needed=2,
        since=(since or at(0)) if down else None,
        last_error=ERROR if down else None,
    )


def tick(minute: int, *findings: Finding) -> TickResult:
    return TickResult(minute=at(minute), findings=findings)


def finding(
    minute: int,
    state: State,
    impact: ImpactLevel = "minor",
    opened_at: datetime | None = None,
    service: str = "chatgpt",
) -> Finding:
    return Finding(
        service=service,
        state=state,
        minute=at(minute),
        opened_at=opened_at or at(0),
        score=12.5 + minute,
        reports_per_min=40.0,
        baseline_per_min=1.25,
        band_per_min=(0.0, 4.0),
        impact=impact,
        components=(Share("conversations", 0.8, 0.75, 30, 2.0, 9.0),),
        regions=(Share("US", 0.9, 0.86, 34, 3.0, 10.0),),
        symptoms=(),
        trigger=SeriesKey.total(service),
        trigger_window=5,
    )


def official(
    indicator: str = "major",
    created_at: datetime | None = None,
    ts: datetime | None = None,
    components: dict[str, str] | None = None,
    with_incident: bool = True,
) -> UpstreamState:
    incident = UpstreamIncident(
        id="p1", name="Elevated errors", status="investigating", impact=indicator, created_at=created_at
    )
    return UpstreamState(
        service="chatgpt",
        ts=ts or at(3),
        indicator=indicator,
        description="Partial System Outage",
        components=components or {},
        incidents=(incident,) if with_incident else (),
    )


def only(found: tuple[FusedFinding, ...]) -> FusedFinding:
    assert len(found) == 1, found
    return found[0]


def test_a_probe_only_episode_opens_recovers_and_closes_after_the_quiet_minutes() -> None:
    fusion = Fusion(FusionConfig(quiet_minutes=3))
    opened = only(fusion.step(tick(5), [verdict(True, since=at(2))]))
    assert opened.state == "opened"
    assert opened.signals == ("probes",)
    assert opened.opened_at == at(2)
    assert opened.minute == at(5)
    assert opened.reports is None and opened.official is None
    assert [v.probe for v in opened.probes] == [PROBE]
    assert opened.impact == "major"  # every probe of the service is down
    assert opened.components == {"api": "major_outage"}
    assert fusion.open_services() == {"chatgpt"}
    ongoing = only(fusion.step(tick(6), [verdict(True, since=at(2))]))
    assert (ongoing.state, ongoing.opened_at) == ("ongoing", at(2))
    states = [only(fusion.step(tick(m), [verdict(False)])).state for m in (7, 8, 9)]
    assert states == ["recovering", "recovering", "closed"]
    assert fusion.open_services() == set()
    assert fusion.step(tick(10), [verdict(False)]) == ()


def test_a_probe_down_again_while_recovering_keeps_the_episode() -> None:
    fusion = Fusion(FusionConfig(quiet_minutes=2))
    fusion.step(tick(0), [verdict(True)])
    assert only(fusion.step(tick(1), [verdict(False)])).state == "recovering"
    assert only(fusion.step(tick(2), [verdict(True)])).state == "ongoing"
    assert only(fusion.step(tick(3), [verdict(False)])).state == "recovering"  # quiet count starts again
    assert only(fusion.step(tick(4), [verdict(False)])).state == "closed"


def test_one_probe_down_of_two_is_a_minor_impact() -> None:
    fused = only(Fusion().step(tick(0), [verdict(True), verdict(False, rule=WEB, probe="chatgpt.web")]))
    assert fused.impact == "minor"
    assert [v.probe for v in fused.probes] == [PROBE]


def test_probes_up_open_nothing() -> None:
    assert Fusion().step(tick(0), [verdict(False)]) == ()


def test_an_official_admission_alone_opens_from_the_providers_incident() -> None:
    state = official("critical", created_at=at(1), ts=at(4))
    fused = only(Fusion().step(tick(4), official={"chatgpt": state}))
    assert fused.state == "opened"
    assert fused.signals == ("official",)
    assert fused.opened_at == at(1)
    assert fused.official == state
    assert fused.impact == "critical"


def test_an_official_component_outage_alone_opens() -> None:
    state = official("none", components={"api": "partial_outage"}, with_incident=False)
    fused = only(Fusion().step(tick(4), official={"chatgpt": state}))
    assert fused.signals == ("official",)
    assert fused.opened_at == state.ts
    assert fused.impact == "minor"
    assert fused.components == {"api": "partial_outage"}


def test_maintenance_on_the_providers_page_opens_nothing() -> None:
    state = official("maintenance", components={"api": "under_maintenance"}, with_incident=False)
    assert not state.admits_problem
    assert Fusion().step(tick(4), official={"chatgpt": state}) == ()


@pytest.mark.parametrize(
    ("reported", "fused_impact"),
    [("minor", "major"), ("major", "critical"), ("critical", "critical")],
)
def test_reports_and_probes_agreeing_raise_the_impact_one_step(
    reported: ImpactLevel, fused_impact: str
) -> None:
    # One probe of two down: the probes alone say minor, so the reports' level is the one raised.
    probes = [verdict(True, since=at(1)), verdict(False, rule=WEB, probe="chatgpt.web")]
    fused = only(Fusion().step(tick(3, finding(3, "opened", reported, opened_at=at(2))), probes))
    assert fused.signals == ("reports", "probes")
    assert fused.impact == fused_impact
    assert fused.opened_at == at(1)  # the earliest signal


def test_agreement_does_not_raise_when_configured_off() -> None:
    fusion = Fusion(FusionConfig(raise_on_agreement=False))
    fused = only(fusion.step(tick(3, finding(3, "opened", "minor")), [verdict(True)]))
    assert fused.impact == "major"  # the probes' own level, not raised


def test_three_signals_agree() -> None:
    fused = only(
        Fusion().step(
            tick(3, finding(3, "opened", "minor")), [verdict(True)], {"chatgpt": official("major", at(1))}
        )
    )
    assert fused.signals == ("reports", "probes", "official")
    assert fused.impact == "critical"


def report_episode() -> list[Finding]:
    """A report detector's episode as it hands it out minute by minute."""
    plan: list[tuple[State, ImpactLevel]] = [
        ("opened", "minor"),
        ("ongoing", "major"),
        ("ongoing", "critical"),
        ("recovering", "critical"),
        ("ongoing", "major"),
        ("recovering", "major"),
        ("recovering", "major"),
        ("closed", "major"),
    ]
    return [finding(10 + i, state, impact, opened_at=at(9)) for i, (state, impact) in enumerate(plan)]


def test_reports_alone_pass_through_unchanged() -> None:
    fusion = Fusion()
    # A second service's short episode in the same ticks: findings keep the detector's order.
    claude: dict[int, list[Finding]] = {
        0: [finding(10, "opened", "major", opened_at=at(10), service="claude")],
        1: [finding(11, "closed", "major", opened_at=at(10), service="claude")],
    }
    for i, report in enumerate(report_episode()):
        result = tick(10 + i, *claude.get(i, []), report)
        fused = fusion.step(result, [], {})
        assert fused == tuple(FusedFinding.from_reports(f) for f in result.findings)
        assert [(f.state, f.impact) for f in fused] == [(f.state, f.impact) for f in result.findings]
    assert fusion.open_services() == set()


def test_reports_closing_while_probes_still_fail_keep_the_episode_open() -> None:
    fusion = Fusion()
    down = [verdict(True, since=at(1))]
    first = only(fusion.step(tick(2, finding(2, "opened", opened_at=at(2))), down))
    assert (first.state, first.signals, first.opened_at) == ("opened", ("reports", "probes"), at(1))
    recovering = only(fusion.step(tick(3, finding(3, "recovering", opened_at=at(2))), down))
    assert (recovering.state, recovering.signals) == ("ongoing", ("probes",))
    closed_reports = only(fusion.step(tick(4, finding(4, "closed", opened_at=at(2))), down))
    assert (closed_reports.state, closed_reports.signals) == ("ongoing", ("probes",))
    assert only(fusion.step(tick(5), down)).state == "ongoing"
    assert fusion.open_services() == {"chatgpt"}
    assert only(fusion.step(tick(6), [verdict(False)])).state == "closed"
    assert fusion.open_services() == set()


def test_the_official_page_admitting_keeps_a_report_episode_open() -> None:
    fusion = Fusion()
    admits = official("minor", at(3))
    cleared = replace(admits, indicator="none", incidents=())
    fusion.step(tick(2, finding(2, "opened", opened_at=at(2))))
    kept = only(fusion.step(tick(3, finding(3, "closed", opened_at=at(2))), [], {"chatgpt": admits}))
    assert (kept.state, kept.signals) == ("ongoing", ("official",))
    assert only(fusion.step(tick(4), [], {"chatgpt": cleared})).state == "closed"


# -- incident wording -------------------------------------------------------------------------------------

CATALOG = Catalog(
    page=Page(name="Test"),
    services=[
        Service(
            id="chatgpt",
            name="ChatGPT",
            probes=[ProbeSpec(id="api", name="API", url="http://127.0.0.1:9/health")],
        )
    ],
)


def test_the_message_names_every_agreeing_signal() -> None:
    fused = only(
        Fusion().step(
            tick(3, finding(3, "opened", "minor")), [verdict(True)], {"chatgpt": official("major", at(1))}
        )
    )
    text = AutomaticIncidents(CATALOG).message(fused)
    assert text.startswith("Users report problems with ChatGPT — conversations 80 %; US 90 %; 600 reports")
    assert f"Probes: API probe down from 2 of 2 locations (eu, us): {ERROR}" in text
    assert "Official status: Partial System Outage — “Elevated errors” (investigating)" in text
    assert text.endswith("Signals that agree: user reports, probes, the official status page")


def test_a_reports_only_message_has_no_signals_sentence() -> None:
    text = AutomaticIncidents(CATALOG).message(FusedFinding.from_reports(finding(3, "opened")))
    assert "Signals that agree" not in text
    assert text.startswith("Users report problems with ChatGPT — ")


# -- replay end to end ------------------------------------------------------------------------------------


def probe_record(minute: int, location: str, ok: bool, second: int = 10) -> dict[str, Any]:
    probe: dict[str, Any] = {"id": PROBE, "location": location, "ok": ok, "latency_ms": 80.0}
    if not ok:
        probe.update(latency_ms=812.5, status_code=503, error=ERROR)
    return {"ts": iso(at(minute, second)), "probe": probe}


def upstream_record(minute: int, indicator: str, created_at: datetime | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"service": "chatgpt", "indicator": indicator}
    if indicator == "none":
        state["description"] = "All Systems Operational"
    else:
        state["description"] = "Partial System Outage"
        state["incidents"] = [
            {
                "id": "up1",
                "name": "Elevated errors",
                "status": "investigating",
                "impact": indicator,
                "created_at": iso(created_at or at(minute)),
            }
        ]
    return {"ts": iso(at(minute, 30)), "upstream": state}


def outage_stream() -> list[dict[str, Any]]:
    """Both locations fail minutes 5-14; the provider admits at 10 (its incident from 9), clears at 17."""
    records: list[dict[str, Any]] = []
    for minute in range(30):
        for second, location in ((10, "eu"), (11, "us")):
            records.append(probe_record(minute, location, not 5 <= minute < 15, second))
        if minute == 10:
            records.append(upstream_record(10, "major", created_at=at(9)))
        if minute == 17:
            records.append(upstream_record(17, "none"))
    return records


def replayed(records: Iterable[dict[str, Any] | bytes]) -> Replay:
    runner = Replay(CATALOG)
    runner.feed_lines(r if isinstance(r, bytes) else orjson.dumps(r) for r in records)
    runner.finish()
    return runner


def summary(stats: ReplayStats) -> list[tuple[str, str, str, list[str]]]:
    return [(e["type"], e["status"], e["impact"], e["signals"]) for e in stats.events]


def test_replay_probes_then_the_official_page_open_update_and_resolve_an_incident() -> None:
    runner = replayed(outage_stream())
    stats = runner.stats
    assert stats.rejected == 0, stats.errors
    assert (stats.probe_results, stats.upstream_states) == (60, 2)
    assert summary(stats) == [
        ("incident.opened", "investigating", "major", ["probes"]),
        ("incident.updated", "investigating", "critical", ["probes", "official"]),
        ("incident.updated", "monitoring", "critical", []),
        ("incident.resolved", "resolved", "critical", []),
    ]
    times = [e["ts"] for e in stats.events]
    # Down after the third failure (minute 7, decided at its end); the provider seen at 10; probes up
    # again at 16 and the page cleared at 17; resolved after three quiet minutes.
    assert times == [iso(at(8)), iso(at(11)), iso(at(18)), iso(at(20))]
    assert len({e["incident_id"] for e in stats.events}) == 1
    with runner.engine.connect() as conn:
        incident = conn.execute(select(incidents)).mappings().one()
        bodies = (
            conn.execute(select(incident_updates.c.body).order_by(incident_updates.c.created_at))
            .scalars()
            .all()
        )
    assert incident["name"] == "ChatGPT fails our probes"
    assert incident["started_at"] == at(5, 10)  # the first failure of the agreeing locations
    assert incident["signals"] == ["probes", "official"]
    assert incident["acknowledged_at"] == at(9)  # the provider's incident creation
    assert incident["acknowledgement"] == "Partial System Outage — “Elevated errors” (investigating)"
    assert bodies[0] == (
        f"ChatGPT fails our probes. Probes: API probe down from 2 of 2 locations (eu, us): {ERROR}. "
        "Signals that agree: probes"
    )
    assert "Official status: Partial System Outage" in bodies[1]
    assert bodies[1].endswith("Signals that agree: probes, the official status page")
    assert bodies[2] == "The failing signals have recovered; we are monitoring."
    assert bodies[3].startswith("Every signal has been back at the usual level")


def test_the_same_stream_gives_the_same_events() -> None:
    first = replayed(outage_stream()).stats.events
    second = replayed(outage_stream()).stats.events
    assert first == second
    assert first


def test_replay_file_writes_the_same_events_as_it_returns() -> None:
    stream = io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in outage_stream()))
    out = io.BytesIO()
    stats = replay_file(stream, catalog=CATALOG, events_out=out)
    written = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert written == stats.events == replayed(outage_stream()).stats.events


def test_one_flaky_location_of_two_never_opens_an_incident() -> None:
    records = []
    for minute in range(40):
        records.append(probe_record(minute, "eu", ok=minute % 7 == 0, second=10))  # mostly failing
        records.append(probe_record(minute, "us", ok=True, second=11))
    stats = replayed(records).stats
    assert stats.rejected == 0
    assert stats.probe_results == 80
    assert stats.events == []


BAD_RECORDS: list[tuple[Any, str]] = [
    ({"ts": iso(at(6, 20)), "probe": {"id": "chatgpt", "ok": False}}, "is not '<service>.<probe>'"),
    ({"ts": iso(at(6, 21)), "probe": {"id": PROBE, "ok": "no"}}, "probe ok must be true or false"),
    ({"ts": iso(at(6, 22)), "probe": {"id": PROBE, "ok": True, "location": "EU 1"}}, "is not a slug"),
    ({"ts": iso(at(6, 23)), "probe": {"id": PROBE, "ok": True, "latency_ms": "fast"}}, "must be a number"),
    ({"ts": iso(at(6, 24)), "probe": ["not", "an", "object"]}, "probe must be an object"),
    ({"probe": {"id": PROBE, "ok": True}}, "ts must be"),
    ({"ts": "2026-03-02T12:06:25", "probe": {"id": PROBE, "ok": True}}, "ts needs a UTC offset"),
    (
        {"ts": iso(at(11, 40)), "upstream": {"service": "chatgpt", "indicator": "bad"}},
        "indicator must be one of",
    ),
    ({"ts": iso(at(11, 41)), "upstream": {"service": "Chat GPT", "indicator": "none"}}, "is not a slug"),
    ({"ts": iso(at(11, 42)), "upstream": "major"}, "upstream must be an object"),
    (
        {"ts": iso(at(11, 43)), "upstream": {"service": "chatgpt", "indicator": "major", "incidents": [{}]}},
        "upstream state is not valid",
    ),
]


def test_bad_probe_and_upstream_records_are_rejected_and_the_replay_goes_on() -> None:
    clean = outage_stream()
    # After the first check of minute 6, in the middle of the failures. Some bad records carry a later
    # time: refused before they are placed in a minute, they must not move the replay's time on either.
    records: list[dict[str, Any] | bytes] = [*clean[:13], *(orjson.dumps(r) for r, _ in BAD_RECORDS)]
    records += [b"{not json", *clean[13:]]
    stats = replayed(records).stats
    assert stats.rejected == len(BAD_RECORDS) + 1, stats.errors
    assert len(stats.errors) == stats.rejected
    expected = [text for _, text in BAD_RECORDS] + [""]
    for line, (error, text) in enumerate(zip(stats.errors, expected, strict=True), start=14):
        assert error.startswith(f"line {line}: "), error
        assert text in error, (text, error)
    assert stats.probe_results == 60
    assert stats.events == replayed(clean).stats.events


def test_a_probe_incident_back_from_monitoring_does_not_claim_rising_reports() -> None:
    quick = ProbeSpec(id="api", name="API", url="http://127.0.0.1:9/health", fail_after=1, recover_after=1)
    catalog = CATALOG.model_copy(
        update={"services": [CATALOG.services[0].model_copy(update={"probes": [quick]})]}
    )
    runner = Replay(catalog)
    records = [
        probe_record(minute, location, not (5 <= minute < 8 or minute == 9), second)
        for minute in range(20)
        for second, location in ((10, "eu"), (11, "us"))
    ]
    runner.feed_lines(orjson.dumps(r) for r in records)
    runner.finish()
    assert [(e["type"], e["status"]) for e in runner.stats.events][:3] == [
        ("incident.opened", "investigating"),
        ("incident.updated", "monitoring"),
        ("incident.updated", "investigating"),
    ]
    with runner.engine.connect() as conn:
        bodies = (
            conn.execute(select(incident_updates.c.body).order_by(incident_updates.c.created_at))
            .scalars()
            .all()
        )
    assert "ChatGPT fails our probes. Probes: API probe down" in bodies[2]
    assert "Reports are rising" not in bodies[2], bodies[2]
