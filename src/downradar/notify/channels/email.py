"""E-mail through SMTP (aiosmtplib), with DOWNRADAR_SMTP_* settings.

A run keeps a few SMTP connections open and reuses them (a login per mail would be slow and some servers
throttle it); one that broke is dropped and the mail is tried once more on a fresh connection. The
Message-ID is the delivery id, so a mail sent again after a retry is recognisably the same mail.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from urllib.parse import urlsplit

import aiosmtplib

from downradar.core.config import NotifySettings
from downradar.notify.channels import Failed
from downradar.notify.mail import notification_mail
from downradar.notify.recipients import Recipient
from downradar.notify.render import Notification

log = logging.getLogger("downradar.notify.email")
NOT_CONFIGURED = "e-mail is not configured (DOWNRADAR_SMTP_HOST)"
CONNECTIONS = 4  # SMTP servers limit connections per client; a handful is plenty for status mail
ERRORS = (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)


def smtp_client(settings: NotifySettings, timeout: float) -> aiosmtplib.SMTP:
    """A client for the configured server; it connects (and logs in, with a user name) on connect()."""
    security = settings.smtp_security
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        use_tls=security == "tls",
        # "none" must not upgrade on its own either: that is for test servers and local relays.
        start_tls=security == "starttls",
        timeout=timeout,
    )


def describe(exc: BaseException) -> str:
    """An SMTP failure in one line, without the server's multi-line banners."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


async def send_once(settings: NotifySettings, message: EmailMessage, *, timeout: float) -> None:
    """Send one mail on a connection of its own (confirmations); raise Failed if it did not go."""
    if not settings.smtp_host:
        raise Failed(NOT_CONFIGURED)
    client = smtp_client(settings, timeout)
    try:
        async with asyncio.timeout(timeout):
            await client.connect()
            try:
                await client.send_message(message)
            finally:
                await _quit(client)
    except ERRORS as exc:
        raise Failed(describe(exc)) from None


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except ERRORS:
        client.close()


class EmailChannel:
    def __init__(self, settings: NotifySettings, *, page_url: str, page_name: str | None = None) -> None:
        self.settings = settings
        self.page_url = page_url
        self.page_name = page_name or urlsplit(page_url).hostname or page_url
        self.timeout = settings.deliver_timeout_seconds
        self._gate = asyncio.Semaphore(CONNECTIONS)
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, recipient: Recipient, notification: Notification) -> None:
        message = notification_mail(
            notification,
            to=recipient.address,
            mail_from=self.settings.mail_from,
            page_name=self.page_name,
            page_url=self.page_url,
            unsubscribe_token=recipient.unsubscribe_token,
        )
        async with self._gate:
            client = self._idle.pop() if self._idle else None
            reused = client is not None
            try:
                client = await self._deliver(client, message)
            except aiosmtplib.SMTPServerDisconnected:
                # An idle connection the server closed since: once more on a fresh one.
                if not reused:
                    raise Failed("the SMTP server closed the connection") from None
                try:
                    client = await self._deliver(None, message)
                except ERRORS as exc:
                    raise Failed(describe(exc)) from None
            except ERRORS as exc:
                raise Failed(describe(exc)) from None
            self._idle.append(client)

    async def _deliver(self, client: aiosmtplib.SMTP | None, message: EmailMessage) -> aiosmtplib.SMTP:
        """Send on this connection (or a new one); a connection that failed is closed, never kept."""
        if client is None or not client.is_connected:
            client = smtp_client(self.settings, self.timeout)
        try:
            # connect() and the send each have the timeout; this bounds a server that trickles answers.
            async with asyncio.timeout(self.timeout * 2):
                if not client.is_connected:
                    await client.connect()
                await client.send_message(message)
        except BaseException:
            client.close()
            raise
        return client

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client in idle))


class NotConfiguredChannel:
    """Stands in for e-mail when DOWNRADAR_SMTP_HOST is empty, so such messages say why they fail."""

    async def send(self, recipient: Recipient, notification: Notification) -> None:
        raise Failed(NOT_CONFIGURED)

    async def aclose(self) -> None:
        return None
