"""Which webhook URLs may be called: public addresses only, unless the operator allows a host or network.

A route URL is the operator's, but whoever can add routes could otherwise make the server call its own
loopback, the cloud metadata address or the private network behind it. The check runs when a route is
added and again before every send, because what a name resolves to can change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(ValueError):
    """The URL is malformed, does not resolve, or reaches an address that is not allowed."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        """`DOWNRADAR_ALLOW_TARGETS`: comma-separated host names, addresses or CIDRs."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return address.is_global or any(address in network for network in self.networks)


def check_target(url: str, allow: AllowList) -> str:
    """Return the URL's host if the URL may be called; raise TargetRefused saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("must be an http:// or https:// URL")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise TargetRefused("has no host")
    if parts.username or parts.password:
        raise TargetRefused("must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise TargetRefused("has an invalid port") from None
    if host in allow.hosts:
        return host
    try:
        found = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise TargetRefused(f"host {host!r} does not resolve") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not allow.allows_address(address):
            raise TargetRefused(
                f"host {host!r} resolves to {address}, which is not a public address "
                "(allow it with DOWNRADAR_ALLOW_TARGETS)"
            )
    return host


async def check_target_async(url: str, allow: AllowList) -> str:
    """check_target for the event loop: a name lookup runs in a thread, an address literal does not."""
    host = (urlsplit(url).hostname or "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return await asyncio.to_thread(check_target, url, allow)
    return check_target(url, allow)
