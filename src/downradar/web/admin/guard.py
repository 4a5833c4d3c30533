"""What every /admin route shares: a signed-in session, CSRF-checked forms, and never-cached responses.

`AdminRoute` wraps each handler: a missing session becomes a redirect to the sign-in form, a CSRF
failure a 403 page, and every response gets `Cache-Control: no-store` and `Vary: Cookie` so no shared
cache ever keeps an admin page.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData

from downradar.web.admin import csrf
from downradar.web.admin.headers import NO_STORE
from downradar.web.admin.session import AdminSession, current_session
from downradar.web.admin.views import forbidden, missing

ACTOR = "admin-ui"


class LoginRequired(Exception):
    """The request has no valid admin session."""


class AdminRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired:
                target = request.url.path if request.method == "GET" else "/admin"
                response = RedirectResponse(f"/admin/login?next={quote(target)}", status_code=303)
            except csrf.CsrfRejected as exc:
                response = forbidden(request, str(exc))
            except RequestValidationError:
                # Only a hand-made address gets here (a non-numeric comment id): a page, like the rest.
                response = missing(request, current_session(request), "There is no such admin page.")
            response.headers.update(NO_STORE)
            return response

        return guarded


def admin_router() -> APIRouter:
    return APIRouter(route_class=AdminRoute)


def signed_in(request: Request) -> AdminSession:
    """Dependency: the request's admin session (else a redirect to the sign-in form)."""
    session = current_session(request)
    if session is None:
        raise LoginRequired
    return session


@dataclass(frozen=True)
class Posted:
    """A signed-in, CSRF-checked form submission."""

    session: AdminSession
    form: FormData

    def get(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value if isinstance(value, str) else default

    def all(self, name: str) -> list[str]:
        return [value for value in self.form.getlist(name) if isinstance(value, str)]


async def posted(request: Request, session: AdminSession = Depends(signed_in)) -> Posted:
    """Dependency for every admin POST: a session, then the form, then its CSRF token."""
    form = await request.form()
    token = form.get(csrf.FIELD)
    csrf.check(session, token if isinstance(token, str) else None)
    return Posted(session, form)
