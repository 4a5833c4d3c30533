"""Chat and paging channels through Apprise (Slack, Discord, Teams, Telegram, ntfy, PagerDuty, Opsgenie,
e-mail… any Apprise URL). An Apprise URL carries the channel's credentials, so it is shown redacted only.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import apprise

from downradar.notify.channels import Failed
from downradar.notify.recipients import Recipient
from downradar.notify.render import Notification
from downradar.notify.targets import AllowList, TargetRefused, check_target

# Schemes whose host is whatever server the operator names (generic HTTP posts and self-hosted tools):
# the same address rules as webhooks apply to them.
SELF_HOSTED = {
    "json", "jsons", "xml", "xmls", "form", "forms", "gotify", "gotifys", "apprise", "apprises",
}  # fmt: skip


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
        notifier = apprise.Apprise()
        notifier.add(recipient.address)
        kind = apprise.NotifyType.SUCCESS if notification.all_resolved else apprise.NotifyType.FAILURE
        ok = await notifier.async_notify(body=notification.text, title=notification.title, notify_type=kind)
        if not ok:
            raise Failed("Apprise could not deliver the notification")

    async def aclose(self) -> None:
        return None
