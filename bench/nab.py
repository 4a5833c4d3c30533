"""Score Downradar's univariate detector on the NAB development subset (../shared/nab).

    .venv/bin/python bench/nab.py                 # all files: three profiles, per-category table, time
    .venv/bin/python bench/nab.py --files         # ... plus a per-file table (standard profile)
    .venv/bin/python bench/nab.py --set refractory_s=21600 --set fire_surprise=2.5   # try other constants
    .venv/bin/python bench/nab.py --only realTweets --dump scores.npz

Each file is scored once, in order, by a fresh ``UnivariateScorer`` (one process per file, in parallel).
The threshold is then tuned per cost profile over the whole corpus, NAB style (see bench/nab_scoring.py
for the rules), and the normalised scores are printed: per profile (with the threshold, windows hit and
FP rows), per category (at the corpus threshold, normalised by the category's own windows), and the time.
``--only`` tunes the threshold on the selected files alone. Exits 0 with a message when the NAB data
is absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from downradar.scoring.csv_io import read_series_csv
from downradar.scoring.univariate import ScorerConfig, score_rows
from nab_scoring import (
    CostProfile,
    LabelledFile,
    label_file,
    load_profiles,
    normalise,
    score_file,
    sweep_threshold,
    window_rows,
)

REPO = Path(__file__).resolve().parents[1]
NAB_DIR = REPO.parent / "shared" / "nab"
PROFILE_ORDER = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def _parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _score_one(args: tuple[str, str, dict[str, object]]) -> tuple[str, np.ndarray, float]:
    """Worker: run the detector over one file (in its own process)."""
    name, path, overrides = args
    config = dataclasses.replace(ScorerConfig(), **overrides)
    rows = read_series_csv(path)
    t0 = time.perf_counter()
    scores = np.fromiter(score_rows(rows, config), dtype=float, count=len(rows))
    return name, scores, time.perf_counter() - t0


def load_labels(nab_dir: Path, names: list[str]) -> dict[str, LabelledFile]:
    windows = json.loads((nab_dir / "labels" / "windows.json").read_text())
    out: dict[str, LabelledFile] = {}
    for name in names:
        rows = read_series_csv(nab_dir / "data" / name)
        ts = [r[0] for r in rows]
        bounds = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in windows.get(name, [])]
        out[name] = label_file(name, len(rows), window_rows(ts, bounds))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nab", type=Path, default=NAB_DIR, help="NAB subset folder (default ../shared/nab)")
    ap.add_argument("--only", default="", help="substring filter on 'category/file.csv'")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--files", action="store_true", help="print a per-file table (standard profile)")
    ap.add_argument("--dump", type=Path, help="save the per-file scores to this .npz")
    args = ap.parse_args(argv)
    console = Console(width=max(Console().width, 160))

    if not (args.nab / "data").is_dir() or not (args.nab / "labels" / "windows.json").is_file():
        console.print(f"[yellow]NAB data not found at {args.nab}; nothing to benchmark (skipped).[/]")
        return 0

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = _parse_value(value)
    config = dataclasses.replace(ScorerConfig(), **overrides)  # validate the overrides early

    names = sorted(str(p.relative_to(args.nab / "data")) for p in (args.nab / "data").glob("*/*.csv"))
    names = [n for n in names if args.only in n]
    profiles = load_profiles(args.nab / "profiles.json")
    t_start = time.perf_counter()
    labels = load_labels(args.nab, names)

    scores: dict[str, np.ndarray] = {}
    cpu = 0.0
    jobs = [(n, str(args.nab / "data" / n), overrides) for n in names]
    jobs.sort(key=lambda j: -labels[j[0]].n_rows)  # longest first: better packing across workers
    columns = (
        TextColumn("[bold]NAB"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=len(jobs))
        if args.workers > 1:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                for name, s, dt in pool.map(_score_one, jobs):
                    scores[name], cpu = s, cpu + dt
                    progress.update(task, advance=1, description=name)
        else:
            for job in jobs:
                name, s, dt = _score_one(job)
                scores[name], cpu = s, cpu + dt
                progress.update(task, advance=1, description=name)
    elapsed = time.perf_counter() - t_start
    n_rows = sum(lab.n_rows for lab in labels.values())

    files = [labels[n] for n in names]
    results = {}
    for pname in PROFILE_ORDER:
        if pname in profiles:
            results[pname] = sweep_threshold(files, scores, profiles[pname])

    table = Table(title=f"NAB dev subset: {len(names)} files, {n_rows} rows")
    table.add_column("profile")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("raw", justify="right")
    table.add_column("windows hit", justify="right")
    table.add_column("FP rows", justify="right")
    for pname, res in results.items():
        per_file = [score_file(lab, scores[lab.name], res.threshold, profiles[pname]) for lab in files]
        hit = sum(r.tp for r in per_file)
        n_win = sum(r.n_windows for r in per_file)
        fps = sum(r.fp for r in per_file)
        table.add_row(
            pname, f"{res.score:.1f}", f"{res.threshold:.6f}", f"{res.raw:.2f}", f"{hit}/{n_win}", str(fps)
        )
    console.print(table)

    _category_table(console, files, scores, profiles, results)
    if args.files and "standard" in results:
        _file_table(console, files, scores, profiles["standard"], results["standard"].threshold)
    console.print(
        f"time: {elapsed:.1f} s wall ({cpu:.1f} s detector CPU, {1e6 * cpu / max(n_rows, 1):.0f} µs/row), "
        f"workers={args.workers}"
    )
    if overrides:
        console.print(f"overrides: {overrides}  (config: {config})")
    if args.dump:
        np.savez_compressed(args.dump, **{n.replace("/", "__"): s for n, s in scores.items()})
    return 0


def _category_table(
    console: Console,
    files: list[LabelledFile],
    scores: dict[str, np.ndarray],
    profiles: dict[str, CostProfile],
    results: dict,
) -> None:
    """Each category scored at the corpus-wide threshold and normalised by its own windows.

    A category without windows (artificialNoAnomaly) cannot be normalised: it shows its FP rows instead.
    """
    table = Table(title="per category (corpus threshold, normalised within the category)")
    table.add_column("category")
    table.add_column("files", justify="right")
    table.add_column("windows", justify="right")
    for pname in results:
        table.add_column(pname, justify="right")
    table.add_column("hit / FP rows (standard)", justify="right")
    cats = sorted({f.category for f in files})
    for cat in cats:
        members = [f for f in files if f.category == cat]
        n_win = sum(f.n_windows for f in members)
        cells = []
        std_detail = ""
        for pname, res in results.items():
            per_file = [score_file(f, scores[f.name], res.threshold, profiles[pname]) for f in members]
            raw = sum(r.raw for r in per_file)
            fps = sum(r.fp for r in per_file)
            cells.append(f"{normalise(raw, n_win, profiles[pname]):.1f}" if n_win else f"{fps} FP")
            if pname == "standard":
                std_detail = f"{sum(r.tp for r in per_file)}/{n_win} / {fps}"
        table.add_row(cat, str(len(members)), str(n_win), *cells, std_detail)
    console.print(table)


def _file_table(
    console: Console,
    files: list[LabelledFile],
    scores: dict[str, np.ndarray],
    profile: CostProfile,
    threshold: float,
) -> None:
    table = Table(title=f"per file, standard profile, threshold {threshold:.6f}")
    for col in ("file", "windows hit", "FP rows", "raw", "first flags (row: window reward or FP cost)"):
        table.add_column(col)
    for lab in files:
        r = score_file(lab, scores[lab.name], threshold, profile)
        flags = np.flatnonzero((scores[lab.name] >= threshold) & lab.scored)
        desc = []
        for i in flags[:12]:
            w = lab.window_id[i]
            tag = f"W{w}:{lab.unit[i]:+.2f}" if w >= 0 else f"fp:{lab.unit[i] * profile.fp_weight:+.2f}"
            desc.append(f"{i}({tag})")
        table.add_row(lab.name, f"{r.tp}/{r.n_windows}", str(r.fp), f"{r.raw:+.2f}", " ".join(desc))
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
