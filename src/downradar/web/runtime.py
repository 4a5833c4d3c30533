"""What a running server holds: settings, catalog, database, writer, limiter, clock and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine

from downradar.core.catalog import Catalog
from downradar.core.clock import Clock
from downradar.core.config import Settings
from downradar.detection.live import LiveDetection
from downradar.intake.group_commit import GroupCommitWriter
from downradar.intake.ratelimit import ReportRateLimiter
from downradar.web.serving.metrics import Metrics


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    engine: Engine
    clock: Clock
    writer: GroupCommitWriter
    limiter: ReportRateLimiter
    metrics: Metrics
    secret: str
    admin_token: str
    component_slugs: dict[str, frozenset[str]] = field(default_factory=dict)
    detection: LiveDetection | None = None


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime
