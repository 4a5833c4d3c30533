"""Signing in with the admin token (throttled per client address) and signing out."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from downradar.web.admin import csrf
from downradar.web.admin.guard import Posted, admin_router, posted
from downradar.web.admin.session import current_session, new_session, set_cookie, sign_out
from downradar.web.admin.views import page
from downradar.web.api.reports import client_address
from downradar.web.runtime import runtime

router = admin_router()


def _next(value: str | None) -> str:
    """Where to go after signing in: an admin page of this site, never elsewhere."""
    if value and value.startswith("/admin") and not value.startswith("/admin/login") and "\\" not in value:
        return value
    return "/admin"


def _form(request: Request, next_path: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    token = csrf.login_token(request)
    response = page(
        request, None, "login.html", {"login_token": token, "next": next_path, "error": error}, status_code
    )
    csrf.set_login_cookie(request, response, token)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(_next(next), status_code=303)
    return _form(request, _next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await request.form()
    next_path = _next(str(form.get("next") or ""))
    token = form.get(csrf.FIELD)
    csrf.check_login(request, token if isinstance(token, str) else None)
    failures = runtime(request).login_failures
    address = client_address(request)
    wait = failures.retry_after(address)
    if wait is not None:
        refused = _form(request, next_path, f"Too many sign-in attempts. Try again in {wait} seconds.", 429)
        refused.headers["Retry-After"] = str(wait)
        return refused
    given = str(form.get("token") or "").strip()
    if not given or not hmac.compare_digest(given.encode(), runtime(request).admin_token.encode()):
        failures.add(address)
        return _form(request, next_path, "That is not the admin token. Check it and try again.", 401)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(request, response, new_session())
    return response


@router.post("/logout")
def logout(request: Request, form: Posted = Depends(posted)) -> Response:
    response = RedirectResponse("/admin/login", status_code=303)
    sign_out(request, response, form.session)
    return response
