"""Webhooks: a signed JSON POST per message.

Receivers check `X-Downradar-Signature` against HMAC-SHA256(secret, f"{timestamp}.{body}") over the raw
body bytes, reject old timestamps to stop replays, and de-duplicate on `X-Downradar-Delivery` (the same
id on every retry of a message), since delivery is at least once. Only a 2xx counts as delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx

from downradar.notify.channels import Failed
from downradar.notify.recipients import Recipient
from downradar.notify.render import Notification
from downradar.notify.targets import AllowList, TargetRefused, check_target_async

DELIVERY_HEADER = "X-Downradar-Delivery"
TIMESTAMP_HEADER = "X-Downradar-Timestamp"
SIGNATURE_HEADER = "X-Downradar-Signature"
USER_AGENT = "Downradar-Webhook/1"


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


class WebhookChannel:
    def __init__(self, *, allow: AllowList, timeout: float, concurrency: int) -> None:
        self.allow = allow
        # No redirects and no proxies: either would make the address check before each send meaningless.
        self.http = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def send(self, recipient: Recipient, notification: Notification) -> None:
        if not recipient.secret:
            raise Failed("webhook recipient has no signing secret")
        try:
            # Checked at every send, because what a name resolves to can change.
            await check_target_async(recipient.address, self.allow)
        except TargetRefused as exc:
            raise Failed(f"refused: {exc}") from None
        body = notification.webhook_body()
        # The signed timestamp is real Unix time, whatever clock the server runs on: receivers compare it
        # with their own clock to refuse replays.
        signed = headers(notification.id, recipient.secret, int(time.time()), body)
        try:
            response = await self.http.post(recipient.address, content=body, headers=signed)
        except httpx.HTTPError as exc:
            raise Failed(f"{type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise Failed(f"HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self.http.aclose()
