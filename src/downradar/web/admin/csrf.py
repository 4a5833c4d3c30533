"""CSRF protection for the admin forms: a hidden token tied to the session, checked on every POST.

The session cookie is SameSite=Strict already; the token is the second lock, for browsers or proxies that
do not honour SameSite. The sign-in form has no session yet, so it gets a short-lived random cookie of
its own and must send the same value back (double submit).
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response

from downradar.web.admin.session import COOKIE_PATH, AdminSession, is_https

FIELD = "csrf_token"
LOGIN_COOKIE = "downradar_admin_login"
LOGIN_COOKIE_SECONDS = 3600


class CsrfRejected(Exception):
    """A POST without the form's token, or with a wrong one."""


def _same(submitted: str | None, expected: str) -> bool:
    return bool(submitted) and hmac.compare_digest(str(submitted).encode(), expected.encode())


def check(session: AdminSession, submitted: str | None) -> None:
    if not _same(submitted, session.csrf_token):
        raise CsrfRejected("the form's security token is missing or does not match your session")


def login_token(request: Request) -> str:
    """The sign-in form's token: the one its cookie already holds, or a new one."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_COOKIE_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def check_login(request: Request, submitted: str | None) -> None:
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or not _same(submitted, expected):
        raise CsrfRejected("the sign-in form's security token is missing or has expired: load the form again")
