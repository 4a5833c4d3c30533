"""POST /api/v1/reports answered as plain ASGI, before FastAPI's layers.

During an outage this is the one endpoint everyone hits at once. FastAPI's layers (telemetry, body
limits, error middleware, routing over every route, dependency solving) cost more per request than
validating the report and committing it (bench/README.md has the figures), so `DownradarApp` hands this
path straight to `ReportFastPath`, which answers through the same `single_report` the FastAPI route
calls: the same validation, rate limit, durable write, metrics and error bodies.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from downradar.web.api.body import BodyTooLarge, read_body
from downradar.web.api.reports import SINGLE_LIMIT, single_report
from downradar.web.errors import error_body
from downradar.web.runtime import Runtime

log = logging.getLogger("downradar.web")
PATH = "/api/v1/reports"
_JSON_HEADER = (b"content-type", b"application/json")


class ReportFastPath:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.latency = rt.metrics.request_seconds.labels("POST", PATH)  # as LatencyMiddleware labels it

    @staticmethod
    def handles(scope: Scope) -> bool:
        return bool(scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        rt = self.rt
        try:
            try:
                body = await read_body(scope, receive, SINGLE_LIMIT)
            except BodyTooLarge as exc:
                rt.metrics.reports.labels("rejected").inc()
                await send_json(send, 413, error_body(str(exc)), {})
                return
            except ClientDisconnect:
                return  # nobody to answer, and half a report is no report
            client = scope.get("client")
            try:
                status, content, headers = await single_report(rt, body, client[0] if client else "unknown")
            except Exception:  # what the framework's error layer would do: log it, answer 500
                log.exception("report intake failed")
                status, content, headers = 500, error_body("internal error: the report was not stored"), {}
            await send_json(send, status, content, headers)
        finally:
            self.latency.observe(time.perf_counter() - started)


async def send_json(send: Send, status: int, content: dict[str, Any], headers: dict[str, str]) -> None:
    body = orjson.dumps(content)
    raw_headers = [_JSON_HEADER, (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
