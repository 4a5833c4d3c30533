"""The demo's mailbox: a local SMTP server whose mails are printed in the terminal.

So a newcomer can try e-mail sign-up on `make run` without a mail server: the confirmation link and the
notification mails appear where the server logs. Only `downradar demo` starts it, and only when no
DOWNRADAR_SMTP_HOST is set.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


class _PrintingHandler:
    def __init__(self, show: Callable[[str], None]) -> None:
        self.show = show

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd names it
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        self.show(f"── mail to {', '.join(envelope.rcpt_tos)}: {message['subject']}\n{text.strip()}\n──")
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class DemoMailbox:
    """Start with `start()`; `port` is where the server should send; `stop()` when the demo ends."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self.port = _free_port()
        self._controller = Controller(_PrintingHandler(show), hostname=HOST, port=self.port)

    def start(self) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP line at INFO
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
