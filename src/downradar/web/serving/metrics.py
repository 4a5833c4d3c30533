"""Prometheus metrics, on a registry of the app's own (several apps can live in one test process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from downradar.core.supervisor import LoopState
from downradar.web.serving.page_cache import PageCache


class _OpenIncidents(Collector):
    def __init__(self, count: Callable[[], dict[str, int]]) -> None:
        self._count = count

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "downradar_open_incidents", "Unresolved incidents, by service", labels=["service"]
        )
        for service, n in sorted(self._count().items()):
            family.add_metric([service], n)
        yield family


class _PageCacheStats(Collector):
    """The page cache's own counts, read at scrape time: a cache hit skips LatencyMiddleware (and any
    per-request cost), so this is where a refresh storm shows."""

    def __init__(self, cache: PageCache) -> None:
        self._cache = cache

    def collect(self) -> Iterable[Metric]:
        stats = self._cache.stats
        counts = CounterMetricFamily(
            "downradar_page_cache_requests",
            "Cacheable GET/HEAD requests: hit (served stored bytes), render (rendered and stored), "
            "pass (rendered, not storable)",
            labels=["outcome"],
        )
        counts.add_metric(["hit"], stats.hits)
        counts.add_metric(["render"], stats.renders)
        counts.add_metric(["pass"], stats.passes)
        yield counts
        yield GaugeMetricFamily("downradar_page_cache_entries", "Responses held", value=len(self._cache))
        yield GaugeMetricFamily("downradar_page_cache_bytes", "Bytes held", value=self._cache.size_bytes)


class _LoopStates(Collector):
    """The supervisor's view of each background loop (core/supervisor.py), read at scrape time."""

    def __init__(self, states: Callable[[], list[LoopState]]) -> None:
        self._states = states

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "downradar_loop_up",
            "1 while the background loop runs healthily, 0 while it is failing or stopped",
            labels=["loop"],
        )
        restarts = CounterMetricFamily(
            "downradar_loop_restarts",
            "Times the background loop was restarted after a failure",
            labels=["loop"],
        )
        for state in self._states():
            up.add_metric([state.name], 1 if state.up else 0)
            restarts.add_metric([state.name], state.restarts)
        yield up
        yield restarts


class Metrics:
    def __init__(
        self,
        open_incidents: Callable[[], dict[str, int]],
        page_cache: PageCache | None = None,
        loops: Callable[[], list[LoopState]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.reports = Counter(
            "downradar_reports",
            "Reports by outcome: accepted (counted), duplicate (kept, not counted), rejected",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("accepted", "duplicate", "rejected"):
            self.reports.labels(outcome)
        self.request_seconds = Histogram(
            "downradar_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.registry.register(_OpenIncidents(open_incidents))
        if page_cache is not None:
            self.registry.register(_PageCacheStats(page_cache))
        if loops is not None:
            self.registry.register(_LoopStates(loops))

    def count_reports(self, rows: Iterable[dict[str, Any]]) -> None:
        duplicates = accepted = 0
        for row in rows:
            if row["duplicate"]:
                duplicates += 1
            else:
                accepted += 1
        if accepted:
            self.reports.labels("accepted").inc(accepted)
        if duplicates:
            self.reports.labels("duplicate").inc(duplicates)


class LatencyMiddleware:
    """Times every HTTP request, labelled by its route template (not the raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], Metrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            metrics = self.metrics()
            if metrics is not None:
                route = scope.get("route")
                path = getattr(route, "path", "unmatched")
                metrics.request_seconds.labels(scope["method"], path).observe(time.perf_counter() - started)
