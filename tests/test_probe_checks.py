"""Probe checks against real servers on 127.0.0.1: HTTP(S) with a trustme CA, TCP, and DNS over UDP.

Each test asserts whether the check is ok and the error sentence a user would read.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import trustme

from downradar.core.model import ProbeResult
from downradar.probes.checks import make_probe_client, run_check
from downradar.probes.spec import ProbeSpec
from support.probe_servers import DNSServer, ProbeTarget


def utc_now() -> datetime:
    return datetime.now(UTC)


def check(spec: ProbeSpec, *, verify: ssl.SSLContext | bool = True) -> ProbeResult:
    async def go() -> ProbeResult:
        async with make_probe_client(verify=verify) as client:
            return await run_check(spec, probe="svc.probe", location="here", client=client, now=utc_now)

    return asyncio.run(go())


def http(url: str, **fields: Any) -> ProbeSpec:
    return ProbeSpec(id="p", url=url, **{"timeout_seconds": 2, **fields})


@pytest.fixture(scope="module")
def target() -> Iterator[ProbeTarget]:
    with ProbeTarget() as server:
        yield server


# -- http ---------------------------------------------------------------------------------------------------


def test_ok_records_status_and_latency(target: ProbeTarget) -> None:
    result = check(http(target.url("/ok"), keyword="all ok"))
    assert result.ok and result.error is None
    assert result.status_code == 200
    assert result.latency_ms is not None and 0 < result.latency_ms < 2000
    assert (result.probe, result.location) == ("svc.probe", "here")


def test_flapping_server_alternates_and_a_retry_rescues_it(target: ProbeTarget) -> None:
    outcomes = [check(http(target.url("/flap"))) for _ in range(3)]
    assert [r.ok for r in outcomes] == [True, False, True]
    assert outcomes[1].error == "status 500 not in 200-399"
    assert outcomes[1].status_code == 500
    before = target.hits["/flap"]
    retried = check(http(target.url("/flap"), retries=2))  # 500, then 200 at once
    assert retried.ok and retried.status_code == 200
    assert target.hits["/flap"] - before == 2


def test_server_error_fails_with_the_status_named(target: ProbeTarget) -> None:
    result = check(http(target.url("/status/503")))
    assert not result.ok
    assert result.error == "status 503 not in 200-399"
    assert check(http(target.url("/status/503"), expect_status="200-299,503")).ok


def test_slower_than_max_latency_fails_with_both_figures(target: ProbeTarget) -> None:
    result = check(http(target.url("/slow?ms=300"), max_latency_ms=100))
    assert not result.ok
    assert result.latency_ms is not None and result.latency_ms >= 300
    assert result.error is not None
    assert result.error.startswith("took ") and result.error.endswith(" ms, limit 100 ms")
    assert check(http(target.url("/slow?ms=50"), max_latency_ms=1000)).ok


def test_slower_than_timeout_times_out(target: ProbeTarget) -> None:
    result = check(http(target.url("/slow?ms=1500"), timeout_seconds=0.3))
    assert not result.ok
    assert result.error == "timed out after 0.3 s"
    assert result.latency_ms is None and result.status_code is None


def test_keyword_missing_from_body(target: ProbeTarget) -> None:
    result = check(http(target.url("/status/200"), keyword="all ok"))
    assert not result.ok
    assert result.error == "body lacks 'all ok'"
    assert result.status_code == 200


def test_json_path_right_and_wrong(target: ProbeTarget) -> None:
    url = target.url("/json")
    assert check(http(url, json_path="status.indicator", json_equals="none")).ok
    assert check(http(url, json_path="items.0.up")).ok  # truthy

    wrong = check(http(url, json_path="status.indicator", json_equals="major"))
    assert not wrong.ok
    assert wrong.error == "status.indicator is 'none', wanted 'major'"

    falsy = check(http(url, json_path="items.1.up"))
    assert falsy.error == "items.1.up is False, wanted a true value"

    missing = check(http(url, json_path="status.page.name"))
    assert missing.error == "status.page.name is missing"

    not_json = check(http(target.url("/ok"), json_path="status"))
    assert not_json.error == "body is not JSON"


def test_post_sends_method_headers_and_body(target: ProbeTarget) -> None:
    good = http(target.url("/post"), method="POST", headers={"X-Probe-Token": "s3cret"}, body="ping")
    assert check(good).ok
    bad = check(http(target.url("/post"), method="POST", headers={"X-Probe-Token": "wrong"}, body="ping"))
    assert not bad.ok
    assert bad.error == "status 400 not in 200-399"


def test_redirect_not_followed_unless_asked(target: ProbeTarget) -> None:
    not_followed = check(http(target.url("/redirect"), expect_status="200-299"))
    assert not not_followed.ok
    assert not_followed.status_code == 302
    assert not_followed.error == "status 302 not in 200-299"
    followed = check(http(target.url("/redirect"), expect_status="200-299", follow_redirects=True))
    assert followed.ok and followed.status_code == 200


def test_cookies_do_not_persist_between_checks(target: ProbeTarget) -> None:
    async def go() -> str:
        async with make_probe_client() as client:
            set_spec = http(target.url("/set-cookie"))
            await run_check(set_spec, probe="a.b", location="here", client=client, now=utc_now)
            echo = await client.get(target.url("/cookie"))
            return echo.text

    assert asyncio.run(go()) == "no cookie"


def test_connection_refused() -> None:
    port = closed_port()
    result = check(http(f"http://127.0.0.1:{port}/"))
    assert not result.ok
    assert result.error == "connection refused"


# -- https --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def tls_target(ca: trustme.CA, not_after: datetime) -> ProbeTarget:
    cert = ca.issue_cert("localhost", "127.0.0.1", not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return ProbeTarget(tls=context)


def test_https_valid_certificate(ca: trustme.CA, client_tls: ssl.SSLContext) -> None:
    with tls_target(ca, utc_now() + timedelta(days=90)) as server:
        result = check(http(server.url("/ok"), keyword="all ok"), verify=client_tls)
    assert result.ok, result.error
    assert result.status_code == 200


def test_https_certificate_expiring_soon(ca: trustme.CA, client_tls: ssl.SSLContext) -> None:
    with tls_target(ca, utc_now() + timedelta(days=3)) as server:
        result = check(http(server.url("/ok"), cert_min_days=14), verify=client_tls)
        assert check(http(server.url("/ok"), cert_min_days=2), verify=client_tls).ok
    assert not result.ok
    assert result.status_code == 200
    assert result.error == "certificate expires in 3.0 days (limit 14)"


def test_https_expired_certificate(ca: trustme.CA, client_tls: ssl.SSLContext) -> None:
    with tls_target(ca, utc_now() - timedelta(days=1)) as server:
        result = check(http(server.url("/ok")), verify=client_tls)
    assert not result.ok
    assert result.error == "TLS certificate has expired"
    assert result.status_code is None


def test_https_untrusted_certificate(ca: trustme.CA) -> None:
    with tls_target(ca, utc_now() + timedelta(days=90)) as server:
        result = check(http(server.url("/ok")))  # the default CA bundle does not know the test CA
    assert not result.ok
    assert result.error is not None and result.error.startswith("TLS certificate not trusted")


# -- tcp ----------------------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_tcp_listening_port(target: ProbeTarget) -> None:
    result = check(ProbeSpec(id="t", kind="tcp", host="127.0.0.1", port=target.port, timeout_seconds=2))
    assert result.ok and result.error is None
    assert result.latency_ms is not None and result.latency_ms < 2000


def test_tcp_closed_port() -> None:
    result = check(ProbeSpec(id="t", kind="tcp", host="127.0.0.1", port=closed_port(), timeout_seconds=2))
    assert not result.ok
    assert result.error == "connection refused"


# -- dns ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DNSServer]:
    with DNSServer() as server:
        yield server


def dns_spec(server: DNSServer, host: str, **fields: Any) -> ProbeSpec:
    fields = {"timeout_seconds": 2, **fields}
    return ProbeSpec(id="d", kind="dns", host=host, nameserver=server.nameserver, **fields)


def test_dns_resolves(dns_server: DNSServer) -> None:
    result = check(dns_spec(dns_server, "svc.probe.test"))
    assert result.ok and result.error is None
    assert result.latency_ms is not None


def test_dns_expected_value(dns_server: DNSServer) -> None:
    assert check(dns_spec(dns_server, "svc.probe.test", expect_values=["10.0.0.7"])).ok
    wrong = check(dns_spec(dns_server, "svc.probe.test", expect_values=["10.0.0.8"]))
    assert not wrong.ok
    assert wrong.error == "answers lack 10.0.0.8 (got 10.0.0.7)"


def test_dns_nxdomain(dns_server: DNSServer) -> None:
    result = check(dns_spec(dns_server, "nope.probe.test"))
    assert not result.ok
    assert result.error == "nope.probe.test does not exist (NXDOMAIN)"


def test_dns_no_record_of_that_type(dns_server: DNSServer) -> None:
    result = check(dns_spec(dns_server, "svc.probe.test", record_type="AAAA"))
    assert not result.ok
    assert result.error == "no AAAA record for svc.probe.test"


def test_dns_timeout() -> None:
    with DNSServer(silent=True) as silent:
        result = check(dns_spec(silent, "svc.probe.test", timeout_seconds=0.3))
    assert not result.ok
    assert result.error == "timed out after 0.3 s"


def test_client_verifies_by_default() -> None:
    client = make_probe_client()
    try:
        assert isinstance(client, httpx.AsyncClient)
        assert not client.trust_env
    finally:
        asyncio.run(client.aclose())
