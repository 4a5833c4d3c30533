"""Bearer-token checks for the admin API and bulk intake: 401 without a token, 403 with a wrong one."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from downradar.web.runtime import runtime


def bearer_token(request: Request, needs: str = "admin token") -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            f"missing {needs}: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def _matches(token: str, *expected: str | None) -> bool:
    return any(e is not None and hmac.compare_digest(token.encode(), e.encode()) for e in expected)


def require_admin(request: Request) -> str:
    """Dependency: the request carries the admin token. Returns the actor name for the audit log."""
    if not _matches(bearer_token(request), runtime(request).admin_token):
        raise HTTPException(403, "wrong admin token")
    return "admin"


def require_ingest(request: Request) -> str:
    rt = runtime(request)
    token = bearer_token(request, needs="admin or ingest token")
    if _matches(token, rt.admin_token):
        return "admin"
    if _matches(token, rt.areas.intake.ingest_token):
        return "ingest"
    raise HTTPException(403, "wrong token: bulk intake needs the admin token or the ingest token")
