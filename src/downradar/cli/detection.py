"""`downradar replay`, `scenario` and `score-series`: detection without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from downradar.cli.common import CatalogOption, err, fail, out, settings_for
from downradar.core.catalog import CatalogError, load_catalog


def register(app: typer.Typer) -> None:
    app.command()(replay)
    app.command()(scenario)
    app.command("score-series")(score_series)


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def replay(
    reports: Annotated[Path, typer.Argument(help="NDJSON report stream in time order (DESIGN 3.1)")],
    events_out: Annotated[Path | None, typer.Option(help="Write incident events here (NDJSON)")] = None,
    catalog: CatalogOption = None,
) -> None:
    """Replay a report stream in event time through the detector and the incident code (no server)."""
    from downradar.detection.replay import replay_file

    # As the server is configured: its counting window (DOWNRADAR_DEDUP_MINUTES) and its detection tuning
    # (DOWNRADAR_DETECTION_TUNING), so a replay counts and decides as the live server would.
    areas = settings_for().areas()
    tuning = areas.detection
    if not reports.is_file():
        fail(f"{reports}: no such file")
    try:
        known = load_catalog(catalog) if catalog is not None else None
    except CatalogError as exc:
        fail(str(exc))
    window = areas.intake.dedup_window
    with reports.open("rb") as stream, _progress() as progress:
        task = progress.add_task("Replaying", total=reports.stat().st_size)
        events_file = events_out.open("wb") if events_out is not None else None
        try:
            stats = replay_file(
                stream,
                catalog=known,
                events_out=events_file,
                progress=lambda n: progress.advance(task, n),
                dedup_window=window,
                config=tuning.detector,
                policy=tuning.policy,
            )
        finally:
            if events_file is not None:
                events_file.close()
    for error in stats.errors:
        err.print(f"[yellow]skipped[/yellow] {error}", highlight=False)
    rate = stats.reports / stats.seconds if stats.seconds else 0.0
    summary = (
        f"{stats.reports:,} reports ({stats.counted:,} counted, {stats.duplicates:,} duplicates, "
        f"{stats.rejected:,} rejected) over {stats.minutes:,} minutes in {stats.seconds:.1f} s "
        f"({rate:,.0f} reports/s); {stats.incidents_opened} incidents opened, {len(stats.events)} events"
    )
    err.print(summary, highlight=False)
    for event in stats.events:
        if event["type"] == "incident.opened":
            out.print(f"{event['ts']}  opened  {event['service']}  {', '.join(event['components'])}")


def scenario(
    path: Annotated[
        Path, typer.Argument(help="Scenario TOML (e.g. ../shared/scenarios/chatgpt-2026-02.toml)")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Write the report stream here (NDJSON)")],
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    history_days: Annotated[int, typer.Option(help="Days of ordinary traffic before the episodes")] = 14,
) -> None:
    """Turn a scenario file into a seeded report stream: a fortnight of ordinary traffic, then episodes."""
    import orjson

    from downradar.detection.scenario import report_stream, scenario_from_toml

    try:
        spec = scenario_from_toml(path.read_text(encoding="utf-8"), history_days=history_days, seed=seed)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (KeyError, ValueError, TypeError) as exc:
        fail(f"{path}: not a usable scenario: {exc}")
    written = 0
    with out_path.open("wb") as out_file, _progress() as progress:
        task = progress.add_task("Writing reports", total=None)
        for report in report_stream(spec):
            line = orjson.dumps(report) + b"\n"
            out_file.write(line)
            written += 1
            if written % 10_000 == 0:
                progress.update(task, completed=out_file.tell())
    err.print(f"{written:,} reports written to {out_path}", highlight=False)
    for episode in spec.episodes:
        onset = episode.onset_minute * 60
        acknowledged = min((o.at for o in episode.official), default=None)
        err.print(
            f"episode {episode.id or '?'}: onset {datetime.fromtimestamp(onset, tz=UTC).isoformat()}"
            + (f", provider's first acknowledgement {acknowledged.isoformat()}" if acknowledged else ""),
            highlight=False,
        )


def score_series(
    data: Annotated[Path, typer.Argument(help="CSV with a header and timestamp,value rows")],
    out_path: Annotated[Path, typer.Option("--out", help="Write timestamp,value,anomaly_score here")],
) -> None:
    """Score one generic time series, streaming and without look-ahead (scores in [0, 1])."""
    from downradar.scoring.csv_io import read_series_csv, write_scores_csv
    from downradar.scoring.univariate import UnivariateScorer

    try:
        rows = read_series_csv(data)
    except FileNotFoundError:
        fail(f"{data}: no such file")
    except ValueError as exc:
        fail(f"{data}: {exc}")
    scorer = UnivariateScorer()
    scores = [scorer.update(moment, value) for moment, value in rows]
    write_scores_csv(out_path, rows, scores)
    err.print(f"{len(scores):,} rows scored into {out_path}", highlight=False)
