"""What a running server holds, built once in the app's lifespan and never changed after: settings,
catalog, database, writer, clock, metrics, the change bus and page cache, the throttles and the signed-out
admin sessions, the live detector and the supervisor of the background loops.

A request reaches it through `runtime(request)`. Nothing a request needs is created lazily or kept in a
module global, so two apps in one process share nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy import Engine

from downradar.core.catalog import Catalog
from downradar.core.clock import Clock
from downradar.core.config import Areas, Settings
from downradar.core.supervisor import Supervisor
from downradar.intake.group_commit import GroupCommitWriter
from downradar.intake.ratelimit import ReportRateLimiter
from downradar.store.changes import ChangeBus
from downradar.web.serving.metrics import Metrics
from downradar.web.serving.page_cache import PageCache

if TYPE_CHECKING:  # the admin and subscribe modules import this one
    from downradar.detection.live import LiveDetection
    from downradar.web.admin.session import SignedOut
    from downradar.web.admin.throttle import FailedAttempts
    from downradar.web.pages.signup_limits import SignupLimits


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    areas: Areas  # the settings of each area, typed and checked (Settings.areas())
    catalog: Catalog
    engine: Engine
    clock: Clock
    writer: GroupCommitWriter
    limiter: ReportRateLimiter  # reports per client
    metrics: Metrics
    secret: str
    admin_token: str
    bus: ChangeBus  # this app's changes (attached to `engine`), which the page cache follows
    page_cache: PageCache
    supervisor: Supervisor  # the background loops
    signed_out: SignedOut  # admin sessions signed out before their expiry
    login_failures: FailedAttempts  # admin sign-in throttle, per client address
    signup_limits: SignupLimits  # subscribe throttles, per client and per address
    component_slugs: dict[str, frozenset[str]] = field(default_factory=dict)
    detection: LiveDetection | None = None


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt
