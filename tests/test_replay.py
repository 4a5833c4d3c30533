"""The seed scenario end to end: report stream → replay (dedup, series, detector, incident code) → events.

On both ChatGPT episodes of February 2026 an incident must open within 2 minutes of onset, name the
scenario's largest component and region first, and no other incident may open in the background fortnight.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from downradar.cli.main import app
from downradar.detection.replay import Replay
from downradar.detection.scenario import report_stream, scenario_from_toml

SEED_SCENARIO = Path(__file__).resolve().parents[2] / "shared" / "scenarios" / "chatgpt-2026-02.toml"


@pytest.fixture(scope="module")
def seed_text() -> str:
    if not SEED_SCENARIO.is_file():
        pytest.skip("../shared/scenarios/chatgpt-2026-02.toml not present (a user's clone has no ../shared)")
    return SEED_SCENARIO.read_text()


@pytest.fixture(scope="module")
def seed_replay(seed_text: str) -> Replay:
    runner = Replay()
    for report in report_stream(scenario_from_toml(seed_text, seed=1)):
        runner.feed(report)
    runner.finish()
    return runner


def test_both_episodes_open_within_two_minutes_and_nothing_else(seed_text: str, seed_replay: Replay) -> None:
    spec = scenario_from_toml(seed_text, seed=1)
    opened = [e for e in seed_replay.stats.events if e["type"] == "incident.opened"]
    assert len(opened) == len(spec.episodes) == 2, [e["ts"] for e in opened]
    raw_episodes = __import__("tomllib").loads(seed_text)["episode"]
    for event, episode, raw in zip(opened, spec.episodes, raw_episodes, strict=True):
        opened_at = datetime.fromisoformat(event["ts"])
        onset = datetime.fromtimestamp(episode.onset_minute * 60, tz=UTC)
        acknowledged = min(o.at for o in episode.official)
        delay = (opened_at - onset).total_seconds() / 60
        provider_delay = (acknowledged - onset).total_seconds() / 60
        print(
            f"{episode.id}: onset {onset:%H:%M} UTC, Downradar opened {opened_at:%H:%M} ({delay:+.0f} min), "
            f"provider acknowledged {acknowledged:%H:%M} ({provider_delay:+.0f} min)"
        )
        assert delay <= 2
        assert opened_at < acknowledged
        largest_region = max(raw["regions"], key=raw["regions"].get)
        assert event["regions"][0] == largest_region
        largest_component = max(raw["components"], key=raw["components"].get)
        incident = _incident(seed_replay, event["incident_id"])
        first_update = incident["updates"][-1]
        assert f"— {largest_component} " in first_update, first_update
        assert largest_component in event["components"]


def test_every_incident_is_resolved_once_reports_are_back_to_normal(seed_replay: Replay) -> None:
    by_incident: dict[str, list[str]] = {}
    for event in seed_replay.stats.events:
        by_incident.setdefault(event["incident_id"], []).append(event["type"])
    for types in by_incident.values():
        assert types[0] == "incident.opened" and types[-1] == "incident.resolved"


def test_events_follow_the_design_contract(seed_replay: Replay) -> None:
    fields = {"ts", "type", "incident_id", "service", "components", "regions", "status", "impact",
              "reports_per_min", "baseline_per_min", "score", "signals"}  # fmt: skip
    for event in seed_replay.stats.events:
        assert set(event) == fields
        assert datetime.fromisoformat(event["ts"]).tzinfo is not None
        assert event["type"] in ("incident.opened", "incident.updated", "incident.resolved")


def test_replay_is_deterministic_and_the_cli_writes_the_same_events(
    seed_replay: Replay, tmp_path: Path
) -> None:
    """The CLI (scenario written to a file, then replayed from it) gives the events the library gave when
    fed the same seed's stream in memory (the module's seed_replay: one replay fewer to wait for)."""
    stream = tmp_path / "reports.ndjson"
    result = CliRunner().invoke(app, ["scenario", str(SEED_SCENARIO), "--out", str(stream), "--seed", "1"])
    assert result.exit_code == 0, result.output
    events_path = tmp_path / "events.ndjson"
    result = CliRunner().invoke(app, ["replay", str(stream), "--events-out", str(events_path)])
    assert result.exit_code == 0, result.output
    assert "2 incidents opened" in " ".join(result.output.split())
    written = [orjson.loads(line) for line in events_path.read_bytes().splitlines()]
    assert [orjson.loads(orjson.dumps(e)) for e in seed_replay.stats.events] == written
    assert [e["type"] for e in written].count("incident.opened") == 2


def test_bad_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    stream = tmp_path / "bad.ndjson"
    lines = [
        b'{"ts": "2026-02-01T00:00:00Z", "service": "svc", "client": "a"}',
        b"not json",
        b'{"ts": "2026-02-01T00:00:30", "service": "svc"}',
        b'{"service": "Bad Slug", "ts": 1}',
        b'{"ts": "2026-02-01T00:01:00Z", "service": "svc", "component": "Api"}',
        b'{"ts": "2026-02-01T00:01:10Z", "service": "svc", "region": 7}',
        b'{"ts": "2026-02-01T00:01:20Z", "service": "svc", "client": ["a"]}',
        b'{"ts": "2026-02-01T00:02Z", "service": "svc", "component": "api", "region": "US", "client": "z"}',
    ]
    stream.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(app, ["replay", str(stream)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "line 2:" in output and "line 3: ts needs a UTC offset" in output
    assert "line 5: component 'Api' is not a slug" in output and "line 6: region 7 is not" in output
    assert "line 7: client ['a'] is not a string" in output
    assert "2 reports (2 counted, 0 duplicates, 6 rejected)" in output
    missing = CliRunner().invoke(app, ["replay", str(tmp_path / "absent.ndjson")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def _incident(runner: Replay, incident_id: str) -> dict[str, list[str]]:
    from sqlalchemy import select

    from downradar.store.schema import incident_updates

    with runner.engine.connect() as conn:
        bodies = conn.scalars(
            select(incident_updates.c.body)
            .where(incident_updates.c.incident_id == incident_id)
            .order_by(incident_updates.c.created_at.desc())
        )
        return {"updates": list(bodies)}
