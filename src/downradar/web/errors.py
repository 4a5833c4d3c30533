"""One error shape for every 4xx: {"error": one line, "errors": [{"field", "message"}]}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from downradar.incidents import IncidentError, NotFound
from downradar.intake.validation import ReportError
from downradar.notify.routes import RouteError
from downradar.web.api.models import error_fields
from downradar.web.pages.templating import error_page
from downradar.web.responses import JSON


def error_body(message: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    return body


def error_response(
    status: int,
    message: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSON:
    return JSON(error_body(message, errors), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSON:
        errors = error_fields(exc.errors())
        return error_response(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors)

    @app.exception_handler(ReportError)
    async def _report(_: Request, exc: ReportError) -> JSON:
        return error_response(422, str(exc), exc.errors)

    @app.exception_handler(IncidentError)
    async def _incident(_: Request, exc: IncidentError) -> JSON:
        return error_response(422, str(exc), [{"field": exc.field, "message": exc.message}])

    @app.exception_handler(RouteError)
    async def _route(_: Request, exc: RouteError) -> JSON:
        return error_response(422, str(exc), [{"field": exc.field, "message": exc.message}])

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSON:
        return error_response(404, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        if _wants_html(request):
            return error_page(request, exc.status_code, str(exc.detail))
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def _wants_html(request: Request) -> bool:
    """Browsers on page addresses get pages; API paths and API clients always get JSON."""
    path = request.url.path
    api = path.startswith(("/api/", "/metrics", "/healthz", "/openapi.json", "/static/"))
    return not api and "text/html" in request.headers.get("accept", "")
