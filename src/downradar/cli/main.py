"""The `downradar` command: the only entry point for humans. Each verb group lives in its own module and
adds itself here."""

from __future__ import annotations

import sys

import typer

from downradar.cli import db, detection, incidents, notify, probes, serve

app = typer.Typer(
    help="Downradar: crowdsourced outage detection and a Statuspage-compatible status page.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for verbs in (serve, db, incidents, notify, detection, probes):
    verbs.register(app)


def main() -> None:  # pragma: no cover - console script shim for `python -m downradar`
    app(prog_name="downradar")
    sys.exit(0)
