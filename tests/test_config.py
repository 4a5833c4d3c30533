"""Typed settings per area, built from the flat DOWNRADAR_* variables: what each area receives, detection's
tuning through DOWNRADAR_DETECTION_TUNING, and a setting the server cannot run with refused at start-up
with one line naming the variable (exit code 2), not a traceback."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from downradar.cli.main import app
from downradar.core.config import ConfigError, Settings
from downradar.web.app import create_app

runner = CliRunner()


def test_the_flat_variables_reach_their_areas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOWNRADAR_GROUP_WAIT_SECONDS", "42")
    monkeypatch.setenv("DOWNRADAR_PROBE_LOCATION", "eu-west")
    monkeypatch.setenv("DOWNRADAR_MAX_BATCH", "77")
    monkeypatch.setenv("DOWNRADAR_DETECT", "false")
    areas = Settings().areas()
    assert areas.notify.group_wait_seconds == 42
    assert areas.probes.location == "eu-west"
    assert areas.intake.max_batch == 77 and areas.intake.dedup_window == timedelta(minutes=15)
    assert areas.detection.enabled is False
    assert areas.detection.detector.open_score == 8.0  # the defaults, with no tuning file
    monkeypatch.setenv("DOWNRADAR_DETECTION_TUNING", "")
    assert Settings().areas().detection.detector.open_score == 8.0  # empty is unset


def test_detection_tuning_comes_from_the_file_the_variable_names(tmp_path: Path) -> None:
    tuning = tmp_path / "tuning.toml"
    tuning.write_text("[detector]\nopen_score = 9.5\nwindows = [1, 15]\n\n[automatic]\nmax_components = 2\n")
    detection = Settings(detection_tuning=tuning).areas().detection
    assert detection.detector.open_score == 9.5
    assert detection.detector.windows == (1, 15)
    assert detection.detector.close_score == 3.0  # what the file leaves out keeps its default
    assert detection.policy.max_components == 2


def test_create_app_refuses_a_dedup_window_the_detector_cannot_honour(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^DOWNRADAR_DEDUP_MINUTES: 10 is not supported"):
        create_app(Settings(db=f"sqlite:///{tmp_path / 'x.db'}", dedup_minutes=10))


BAD_TUNING = {
    "unknown.toml": ("[detector]\nopen_scor = 9\n", "[detector] has no setting 'open_scor'"),
    "type.toml": (
        '[detector]\nopen_score = "high"\n',
        "[detector] open_score: Input should be a valid number",
    ),
    "rule.toml": ("[detector]\nopen_score = 2.0\n", "close_score must be positive and at most open_score"),
    "table.toml": ("[detectors]\n", "unknown table [detectors]"),
    "syntax.toml": ("[detector\n", "is not valid TOML"),
}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "DOWNRADAR_DEDUP_MINUTES",
            "10",
            "10 is not supported: the detector and replay count each client once",
        ),
        ("DOWNRADAR_PORT", "abc", "Input should be a valid integer"),
        ("DOWNRADAR_LOG_FORMAT", "xml", "'xml': choose text or json"),
        ("DOWNRADAR_REPORT_RATE_LIMIT", "lots", "'lots' is not a rate such as 20/minute"),
        ("DOWNRADAR_DELIVER_BACKOFF_CAP_SECONDS", "1", "1 is below DOWNRADAR_DELIVER_BACKOFF_BASE_SECONDS"),
        ("DOWNRADAR_DETECTION_TUNING", "missing.toml", "cannot read"),
        *(("DOWNRADAR_DETECTION_TUNING", name, message) for name, (_, message) in BAD_TUNING.items()),
    ],
)
def test_run_refuses_a_bad_setting_in_one_line_with_exit_code_2(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    if variable == "DOWNRADAR_DETECTION_TUNING":
        if value in BAD_TUNING:
            (tmp_path / value).write_text(BAD_TUNING[value][0])
        value = str(tmp_path / value)
    result = runner.invoke(app, ["run", "--db", f"sqlite:///{tmp_path / 'x.db'}"], env={variable: value})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {variable}: ") and message in lines[0], lines[0]
    assert not (tmp_path / "x.db").exists()  # refused before anything was started or created
