"""The admin session: a signed, expiring cookie holding a random session id and its CSRF token.

The cookie is `<session id>.<csrf token>.<expiry>.<signature>`; the signature is an HMAC-SHA256 whose
key is derived from the server's secret *and* the admin token, so rotating the token signs everyone
out. Nothing is stored per session except the ids signed out early (logout), kept until they expire.
Expiry is on real time (a SystemClock, not the runtime's clock): a replay's fixed clock or the demo's
fast one must not keep sessions alive, nor end them in minutes. Tests may pass a FakeClock as `wall`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from fastapi import Request, Response

from downradar.core.clock import Clock, SystemClock
from downradar.web.runtime import Runtime, runtime

COOKIE = "downradar_admin"
LIFETIME_SECONDS = 8 * 3600
COOKIE_PATH = "/admin"
REAL_TIME = SystemClock()


@dataclass(frozen=True)
class AdminSession:
    session_id: str
    csrf_token: str
    expires_at: int  # epoch seconds


class SignedOut:
    """Session ids signed out before their expiry (one set per application)."""

    def __init__(self, wall: Clock = REAL_TIME) -> None:
        self._wall = wall
        self._until: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, session: AdminSession) -> None:
        with self._lock:
            now = int(self._wall.now().timestamp())
            self._until = {sid: t for sid, t in self._until.items() if t > now}
            self._until[session.session_id] = session.expires_at

    def __contains__(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._until


def _key(rt: Runtime) -> bytes:
    material = f"downradar admin session\0{rt.secret}\0{rt.admin_token}".encode()
    return hashlib.sha256(material).digest()


def _sign(rt: Runtime, payload: str) -> str:
    return hmac.new(_key(rt), payload.encode(), hashlib.sha256).hexdigest()


def new_session(wall: Clock = REAL_TIME) -> AdminSession:
    return AdminSession(
        session_id=secrets.token_urlsafe(24),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=int(wall.now().timestamp()) + LIFETIME_SECONDS,
    )


def encode(rt: Runtime, session: AdminSession) -> str:
    payload = f"{session.session_id}.{session.csrf_token}.{session.expires_at}"
    return f"{payload}.{_sign(rt, payload)}"


def decode(rt: Runtime, value: str, wall: Clock = REAL_TIME) -> AdminSession | None:
    """The session a cookie value holds, or None if it is forged, malformed or expired."""
    payload, _, signature = value.rpartition(".")
    if not hmac.compare_digest(_sign(rt, payload).encode(), signature.encode()):
        return None
    parts = payload.split(".")
    if len(parts) != 3:
        return None
    session_id, csrf_token, expires = parts
    if not (session_id and csrf_token and expires.isdigit()) or int(expires) <= wall.now().timestamp():
        return None
    return AdminSession(session_id, csrf_token, int(expires))


def current_session(request: Request) -> AdminSession | None:
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    session = decode(runtime(request), value)
    if session is None or session.session_id in runtime(request).signed_out:
        return None
    return session


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, session: AdminSession) -> None:
    response.set_cookie(
        COOKIE,
        encode(runtime(request), session),
        max_age=LIFETIME_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def sign_out(request: Request, response: Response, session: AdminSession | None) -> None:
    if session is not None:
        runtime(request).signed_out.add(session)
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=is_https(request)
    )
