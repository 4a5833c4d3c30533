"""Fetching a provider's status page politely (conditional GETs), and finding out which kind it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from downradar.upstream.parse import UpstreamFormatError, check_summary, is_feed, load_json

FetchStatus = Literal["ok", "not_modified", "error"]
DetectedKind = Literal["statuspage", "feed"]

USER_AGENT = "downradar-upstream/0.1 (+status page watcher)"
# A status page is small; anything bigger is not one, and must not fill our memory.
MAX_BODY_BYTES = 5 * 1024 * 1024


class UpstreamDetectError(Exception):
    """No Statuspage summary and no Atom/RSS feed could be found at the URL."""


@dataclass(frozen=True)
class FetchResult:
    """One GET of a status page. `etag` / `last_modified` are the validators to send next time."""

    status: FetchStatus
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    http_status: int | None = None


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 10.0,
) -> FetchResult:
    """GET `url`, conditionally when validators are known. Never raises for network or HTTP trouble."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/atom+xml, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with client.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True) as r:
            if r.status_code == 304:
                return FetchResult(
                    "not_modified",
                    etag=r.headers.get("etag", etag),
                    last_modified=r.headers.get("last-modified", last_modified),
                    http_status=304,
                )
            if r.status_code >= 400:
                error = f"HTTP {r.status_code} from {url}"
                return FetchResult("error", error=error, http_status=r.status_code)
            body = await _read_capped(r)
    except httpx.TimeoutException:
        return FetchResult("error", error=f"timed out after {timeout:g} s fetching {url}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return FetchResult("error", error=f"{_describe(exc)} fetching {url}")
    except _TooLarge:
        return FetchResult("error", error=f"body larger than {MAX_BODY_BYTES} bytes at {url}")
    return FetchResult(
        "ok",
        body=body,
        etag=r.headers.get("etag"),
        last_modified=r.headers.get("last-modified"),
        http_status=r.status_code,
    )


async def detect_kind(client: httpx.AsyncClient, url: str, timeout: float = 10.0) -> tuple[DetectedKind, str]:
    """Which kind of status page `url` is, and the URL to poll for it.

    A URL ending in .json is a Statuspage summary and one ending in .atom, .rss or .xml is a feed, as
    given. Otherwise: `<url>/api/v2/summary.json` when it parses as a summary, else `url` itself when it
    is a feed, else `<url>/history.atom` when that is a feed.
    """
    path = urlsplit(url).path.lower()
    if path.endswith(".json"):
        return "statuspage", url
    if path.endswith((".atom", ".rss", ".xml")):
        return "feed", url

    base = url.rstrip("/")
    tried: list[str] = []
    summary_url = f"{base}/api/v2/summary.json"
    result = await fetch(client, summary_url, timeout=timeout)
    if result.status == "ok":
        try:
            check_summary(load_json(result.body))
        except UpstreamFormatError as exc:
            tried.append(f"{summary_url}: {exc}")
        else:
            return "statuspage", summary_url
    else:
        tried.append(f"{summary_url}: {result.error}")

    for candidate in (url, f"{base}/history.atom"):
        result = await fetch(client, candidate, timeout=timeout)
        if result.status == "ok" and is_feed(result.body):
            return "feed", candidate
        tried.append(f"{candidate}: {result.error or 'not an Atom or RSS feed'}")
    raise UpstreamDetectError(f"no Statuspage summary or status feed found for {url} ({'; '.join(tried)})")


class _TooLarge(Exception):
    pass


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: httpx.HTTPError | httpx.InvalidURL) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'connection refused'})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
