"""Reporter identity: a salted hash of the address, never the address itself."""

from __future__ import annotations

import hashlib
import hmac


def client_key(secret: str, address: str) -> str:
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]
