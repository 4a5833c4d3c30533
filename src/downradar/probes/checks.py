"""Run one probe check (HTTP, TCP or DNS) and say in words what failed.

`run_check` never raises for a failing target: every way a check can fail becomes a `ProbeResult` with
`ok=False` and a short sentence in `error` ("status 503 not in 200-399", "connection refused", …) that a
person can read on the status page. A failed attempt is retried at once up to `spec.retries` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver
import httpx

from downradar.core.model import ProbeResult
from downradar.probes.spec import ProbeSpec

USER_AGENT = "Downradar-probe/1 (+https://github.com/downradar)"
_MISSING = object()


@dataclass(frozen=True)
class _Attempt:
    ok: bool
    latency_ms: float | None
    status_code: int | None = None
    error: str | None = None


def make_probe_client(
    *, verify: ssl.SSLContext | bool = True, concurrency: int = 100, local_address: str | None = None
) -> httpx.AsyncClient:
    """An HTTP client shared by many probes: certificates verified (certifi's CA bundle by default), no
    proxy or netrc from the environment, and a cookie jar that refuses every cookie, so one probe's session
    never leaks into the next check. Timeouts come from each probe's spec. `local_address` picks the
    source address of HTTP checks (a host with several uplinks probing through one of them)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, local_address=local_address)
    return httpx.AsyncClient(
        transport=transport,
        verify=verify,
        limits=limits,
        trust_env=False,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={"User-Agent": USER_AGENT},
    )


async def run_check(
    spec: ProbeSpec,
    *,
    probe: str,
    location: str,
    client: httpx.AsyncClient,
    now: Callable[[], datetime],
) -> ProbeResult:
    """Check `spec` once (plus up to `spec.retries` immediate retries after a failure). `ts` is when the
    first attempt started; latency, status and error are the last attempt's."""
    started = now()
    attempt = _Attempt(ok=False, latency_ms=None, error="not run")
    for _ in range(spec.retries + 1):
        attempt = await _attempt_once(spec, client)
        if attempt.ok:
            break
    return ProbeResult(
        probe=probe,
        location=location,
        ts=started,
        ok=attempt.ok,
        latency_ms=attempt.latency_ms,
        status_code=attempt.status_code,
        error=attempt.error,
    )


async def _attempt_once(spec: ProbeSpec, client: httpx.AsyncClient) -> _Attempt:
    if spec.kind == "http":
        return await _http(spec, client)
    if spec.kind == "tcp":
        return await _tcp(spec)
    return await _dns(spec)


# -- http -------------------------------------------------------------------------------------------------


async def _http(spec: ProbeSpec, client: httpx.AsyncClient) -> _Attempt:
    assert spec.url is not None  # ProbeSpec guarantees it for http probes
    start = time.perf_counter()  # real time: a latency is a span of the network's, not of the clock
    try:
        # One deadline for the whole exchange: httpx's own timeouts are per read, so a server trickling
        # bytes could otherwise hold a check far beyond timeout_seconds.
        async with asyncio.timeout(spec.timeout_seconds):
            request = client.build_request(
                spec.method,
                spec.url,
                headers=spec.headers,
                content=spec.body.encode() if spec.body is not None else None,
                timeout=spec.timeout_seconds,
            )
            response = await client.send(request, stream=True, follow_redirects=spec.follow_redirects)
            try:
                # The certificate is read before the body, while the connection surely is still open.
                not_after = _peer_not_after(response)
                await response.aread()
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return _Attempt(False, None, error=f"timed out after {spec.timeout_seconds:g} s")
    except httpx.TooManyRedirects:
        return _Attempt(False, None, error="too many redirects")
    except httpx.TransportError as exc:
        return _Attempt(False, None, error=_transport_error(exc))
    latency_ms = (time.perf_counter() - start) * 1000
    error = _http_condition_failed(spec, response, latency_ms, not_after)
    return _Attempt(error is None, latency_ms, response.status_code, error)


def _http_condition_failed(
    spec: ProbeSpec,
    response: httpx.Response,
    latency_ms: float,
    not_after: float | None,
) -> str | None:
    """The first condition of the spec that the response breaks, in words; None when all hold."""
    status = response.status_code
    if not any(low <= status <= high for low, high in spec.status_ranges):
        return f"status {status} not in {spec.expect_status.replace(' ', '')}"
    if not_after is not None and spec.cert_min_days is not None:
        # Real time, not the injected clock: TLS verification just judged the certificate by real time too.
        days = (not_after - time.time()) / 86_400
        if days < spec.cert_min_days:
            return f"certificate expires in {days:.1f} days (limit {spec.cert_min_days:g})"
    if spec.keyword is not None and spec.keyword not in response.text:
        return f"body lacks {spec.keyword!r}"
    if spec.json_path:
        failed = _json_condition_failed(spec.json_path, spec.json_equals, response.content)
        if failed:
            return failed
    if spec.max_latency_ms is not None and latency_ms > spec.max_latency_ms:
        return f"took {latency_ms:,.0f} ms, limit {spec.max_latency_ms:,.0f} ms"
    return None


def _json_condition_failed(path: str, wanted: Any, body: bytes) -> str | None:
    try:
        value: Any = json.loads(body)
    except ValueError:
        return "body is not JSON"
    value = _follow(value, path)
    if value is _MISSING:
        return f"{path} is missing"
    if wanted is None:
        return None if value else f"{path} is {value!r}, wanted a true value"
    return None if value == wanted else f"{path} is {value!r}, wanted {wanted!r}"


def _follow(value: Any, path: str) -> Any:
    """`a.b.0.c` into parsed JSON: names index objects, numbers index lists."""
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _peer_not_after(response: httpx.Response) -> float | None:
    """When the server's certificate expires (epoch seconds), for https; None when not known."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    # getpeercert() is empty when verification is off: then there is nothing trusted to judge.
    not_after = (ssl_object.getpeercert() or {}).get("notAfter")
    return ssl.cert_time_to_seconds(not_after) if not_after else None


def _transport_error(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "verification failed"
            if "expired" in reason:
                return "TLS certificate has expired"
            return f"TLS certificate not trusted ({reason})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or cause})"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate has expired" if "expired" in text else "TLS certificate not trusted"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "server closed the connection without a valid answer"
    return f"connection failed ({text or type(exc).__name__})"


# -- tcp --------------------------------------------------------------------------------------------------


async def _tcp(spec: ProbeSpec) -> _Attempt:
    assert spec.host is not None and spec.port is not None
    start = time.perf_counter()
    try:
        async with asyncio.timeout(spec.timeout_seconds):
            _, writer = await asyncio.open_connection(spec.host, spec.port)
    except TimeoutError:
        return _Attempt(False, None, error=f"timed out after {spec.timeout_seconds:g} s")
    except ConnectionRefusedError:
        return _Attempt(False, None, error="connection refused")
    except socket.gaierror:
        return _Attempt(False, None, error="host name not found")
    except OSError as exc:
        return _Attempt(False, None, error=f"connection failed ({exc.strerror or exc})")
    latency_ms = (time.perf_counter() - start) * 1000
    writer.close()
    with contextlib.suppress(OSError):  # the connection was made; how it ends is not the check's business
        await writer.wait_closed()
    return _Attempt(True, latency_ms)


# -- dns --------------------------------------------------------------------------------------------------

_resolvers: dict[str | None, dns.asyncresolver.Resolver] = {}


async def _resolver(nameserver: str | None) -> dns.asyncresolver.Resolver:
    """One resolver per nameserver setting, made once: reading resolv.conf per check is wasted work."""
    if nameserver in _resolvers:
        return _resolvers[nameserver]
    if nameserver is None:
        resolver = dns.asyncresolver.Resolver()
    else:
        host, port = _split_host_port(nameserver)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [str(infos[0][4][0])]
        resolver.port = port
    _resolvers[nameserver] = resolver
    return resolver


def _split_host_port(value: str) -> tuple[str, int]:
    if value.startswith("["):  # [2001:db8::1]:5353
        host, _, rest = value[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, 53  # a name, an IPv4 address or a bare IPv6 address


def _answer_forms(text: str, record_type: str) -> set[str]:
    """The ways a user may write an answer: no trailing dot, any case, TXT without quotes, MX by host."""
    plain = text.strip().rstrip(".").lower()
    forms = {plain}
    if record_type == "TXT":
        forms.add(plain.replace('" "', "").strip('"'))
    if record_type == "MX" and " " in plain:
        forms.add(plain.split(" ", 1)[1])
    return forms


async def _dns(spec: ProbeSpec) -> _Attempt:
    assert spec.host is not None
    start = time.perf_counter()
    try:
        resolver = await _resolver(spec.nameserver)
        answer = await resolver.resolve(
            spec.host, spec.record_type, lifetime=spec.timeout_seconds, search=False
        )
    except dns.resolver.NXDOMAIN:
        return _Attempt(False, None, error=f"{spec.host} does not exist (NXDOMAIN)")
    except dns.resolver.NoAnswer:
        return _Attempt(False, None, error=f"no {spec.record_type} record for {spec.host}")
    except dns.exception.Timeout:
        return _Attempt(False, None, error=f"timed out after {spec.timeout_seconds:g} s")
    except dns.resolver.NoNameservers:
        return _Attempt(False, None, error="no nameserver gave an answer (SERVFAIL or refused)")
    except (dns.exception.DNSException, OSError) as exc:
        return _Attempt(False, None, error=f"DNS lookup failed ({exc})")
    latency_ms = (time.perf_counter() - start) * 1000
    answers = [rdata.to_text() for rdata in answer]
    present: set[str] = set()
    for text in answers:
        present |= _answer_forms(text, spec.record_type)
    missing = [value for value in spec.expect_values if value.strip().rstrip(".").lower() not in present]
    if missing:
        got = ", ".join(a.rstrip(".") for a in answers)
        return _Attempt(False, latency_ms, error=f"answers lack {', '.join(missing)} (got {got})")
    return _Attempt(True, latency_ms)
