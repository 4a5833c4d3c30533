"""Structured logs: one JSON object per line (DOWNRADAR_LOG_FORMAT=json) or plain text for a terminal."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=True))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request's full URL at INFO; webhook URLs may carry a receiver's token.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
