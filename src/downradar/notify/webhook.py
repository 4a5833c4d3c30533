"""One webhook request: the JSON body, its HMAC signature and the headers that carry them.

Receivers check `X-Downradar-Signature` against HMAC-SHA256(secret, f"{timestamp}.{body}") over the raw
body bytes, reject old timestamps to stop replays, and de-duplicate on `X-Downradar-Delivery` (the same
id on every retry of a delivery), since delivery is at least once.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

DELIVERY_HEADER = "X-Downradar-Delivery"
TIMESTAMP_HEADER = "X-Downradar-Timestamp"
SIGNATURE_HEADER = "X-Downradar-Signature"
USER_AGENT = "Downradar-Webhook/1"


def payload(delivery_id: str, record: dict[str, Any], incident_url: str) -> bytes:
    """The event record (DESIGN.md 3.2) plus the delivery id and the incident's public page."""
    return orjson.dumps({"id": delivery_id, **record, "incident_url": incident_url})


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def headers(delivery_id: str, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def incident_url(page_url: str, incident_id: str) -> str:
    return f"{page_url.rstrip('/')}/incidents/{incident_id}"
