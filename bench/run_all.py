"""Both intake benchmarks, one after the other, and a summary table (what `make bench` runs).

    .venv/bin/python bench/run_all.py                       # ~2 minutes: 100k bulk reports, 2 × 8 s of POSTs
    .venv/bin/python bench/run_all.py --reports 1000000 --duration 30 --rounds 3
    .venv/bin/python bench/run_all.py --db postgresql://postgres@127.0.0.1:5432/test   # on PostgreSQL

Each benchmark prints a ratio against a baseline measured in the same run on the same machine; see
bench/README.md for what the baselines are and how to read the ratios.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from rich.table import Table

import bulk_intake
import single_post
from harness import console, machine


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", help="PostgreSQL server URL to create scratch databases on (default: SQLite)")
    parser.add_argument("-n", "--reports", type=int, default=100_000, help="bulk reports (100000)")
    parser.add_argument("--chunk", type=int, default=10_000, help="NDJSON lines per bulk request (10000)")
    parser.add_argument("-d", "--duration", type=float, default=8.0, help="seconds per POST measurement (8)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of POSTs, pooled (2)")
    parser.add_argument("--bulk-rounds", type=int, default=1, help="alternating rounds of bulk intake (1)")
    parser.add_argument("-c", "--connections", type=int, default=64, help="concurrent POST clients (64)")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto", help="POST load tool")
    parser.add_argument("--only", choices=["bulk", "single"], help="run just one of the two")
    args = parser.parse_args()

    started = time.monotonic()
    console.print(f"[dim]{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}[/dim]")
    table = Table(title="Downradar intake benchmarks")
    for column in ("benchmark", "ours", "baseline", "ratio", "target", "latency p50 / p99"):
        table.add_column(column, justify="left" if column == "benchmark" else "right")

    if args.only in (None, "bulk"):
        bulk = bulk_intake.run(args.reports, db=args.db, chunk=args.chunk, rounds=args.bulk_rounds)
        table.add_row(
            f"bulk NDJSON, {bulk.reports:,} reports ({bulk.backend})",
            f"{bulk.ours_per_s:,.0f} reports/s",
            f"{bulk.baseline_per_s:,.0f} reports/s",
            f"{bulk.ratio:.2f}×",
            f"{bulk_intake.TARGET:.2f}×",
            "",
        )
    if args.only in (None, "single"):
        single = single_post.run(
            db=args.db,
            connections=args.connections,
            duration=args.duration,
            rounds=args.rounds,
            tool=args.tool,
        )
        table.add_row(
            f"single POST, {single.connections} clients ({single.backend}, {single.tool})",
            f"{single.ours.per_s:,.0f} req/s",
            f"{single.baseline.per_s:,.0f} req/s",
            f"{single.ratio:.2f}×",
            f"{single_post.TARGET:.2f}×",
            f"{single.ours.p50_ms:.1f} / {single.ours.p99_ms:.1f} ms "
            f"(bare {single.baseline.p50_ms:.1f} / {single.baseline.p99_ms:.1f})",
        )
    console.print(table)
    console.print(f"[dim]{time.monotonic() - started:.0f} s in all[/dim]")


if __name__ == "__main__":
    main()
