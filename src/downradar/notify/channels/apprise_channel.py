"""Chat and paging channels through Apprise (Slack, Discord, Teams, Telegram, ntfy, PagerDuty, Opsgenie,
e-mail… any Apprise URL). An Apprise URL carries the channel's credentials, so it is shown redacted only.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import apprise

from downradar.notify import paging
from downradar.notify.channels import Failed
from downradar.notify.recipients import Recipient
from downradar.notify.render import Notification
from downradar.notify.targets import AllowList, TargetRefused, check_target

# Schemes whose host is whatever server the operator names (generic HTTP posts and self-hosted tools):
# the same address rules as webhooks apply to them.
SELF_HOSTED = {
    "json", "jsons", "xml", "xmls", "form", "forms", "gotify", "gotifys", "apprise", "apprises",
}  # fmt: skip


# Apprise's plugins log their request payloads, integration keys included, at DEBUG: never let those
# through, whatever level the server logs at.
logging.getLogger("apprise").setLevel(logging.INFO)


class AppriseUrlError(ValueError):
    pass


def _plugin(url: str) -> apprise.plugins.NotifyBase:
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise AppriseUrlError("is not an Apprise URL Downradar can use (see the Apprise wiki for formats)")
    return plugin


def check_apprise_url(url: str, allow: AllowList) -> str:
    """Validate an Apprise URL (and its host, for self-hosted schemes); return its redacted form."""
    plugin = _plugin(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme in SELF_HOSTED:
        host = plugin.host or ""
        port = f":{plugin.port}" if plugin.port else ""
        try:
            check_target(f"http://{host}{port}/", allow)
        except TargetRefused as exc:
            raise AppriseUrlError(str(exc)) from None
    return redacted(url)


def redacted(url: str) -> str:
    try:
        return str(_plugin(url).url(privacy=True))
    except AppriseUrlError:
        return urlsplit(url).scheme + "://…"


class AppriseChannel:
    def __init__(self, *, allow: AllowList) -> None:
        self.allow = allow

    async def send(self, recipient: Recipient, notification: Notification) -> None:
        try:
            await asyncio.to_thread(check_apprise_url, recipient.address, self.allow)
        except AppriseUrlError as exc:
            raise Failed(f"refused: {exc}") from None
        if notification.pages:
            # A paging route: one alert per dedup key, raised or resolved as a whole (notify/paging.py).
            for page in notification.pages:
                resolved = apprise.NotifyType.SUCCESS if page.resolved else apprise.NotifyType.FAILURE
                url = paging.url_with_key(recipient.address, page.dedup_key)
                await self._notify(url, page.title, page.text, resolved)
            return
        kind = apprise.NotifyType.SUCCESS if notification.all_resolved else apprise.NotifyType.FAILURE
        await self._notify(recipient.address, notification.title, notification.text, kind)

    async def _notify(self, url: str, title: str, text: str, kind: apprise.NotifyType) -> None:
        notifier = apprise.Apprise()
        notifier.add(url)
        if not await notifier.async_notify(body=text, title=title, notify_type=kind):
            raise Failed("Apprise could not deliver the notification")

    async def aclose(self) -> None:
        return None
