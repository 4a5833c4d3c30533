"""Channels: how a message reaches a recipient. Each one sends a rendered Notification or raises Failed.

The worker opens all channels once per run (`open_channels`) and picks one by the recipient's channel
name; a channel keeps its connections (an HTTP pool, an SMTP login) for the run.
"""

from __future__ import annotations

from typing import Protocol

from downradar.notify.recipients import Recipient
from downradar.notify.render import Notification


class Failed(Exception):
    """A send that did not succeed; the message is retried later. The text is kept as `last_error`."""


class Channel(Protocol):
    async def send(self, recipient: Recipient, notification: Notification) -> None: ...

    async def aclose(self) -> None: ...
