"""Keep the tokens in confirmation and unsubscribe links out of access logs.

The token in the address is the only proof those links need, so an access log line with it would let
anyone who reads the logs unsubscribe (or confirm) someone. Uvicorn's access logger gets a filter that
masks them, whichever way the server is run.
"""

from __future__ import annotations

import logging
import re

TOKEN_PATH = re.compile(r"(/subscribe/confirm/|/unsubscribe/)[^/?#\s\"]+")
MASK = r"\1…"


def redact(text: str) -> str:
    return TOKEN_PATH.sub(MASK, text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
