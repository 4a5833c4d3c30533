"""Comment moderation: every comment (hidden ones too), newest first; hide one or show it again."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from downradar.incidents import NotFound
from downradar.incidents.queries import load_services
from downradar.intake import comments
from downradar.web.admin.guard import ACTOR, Posted, admin_router, posted, signed_in
from downradar.web.admin.session import AdminSession
from downradar.web.admin.views import done, missing, page
from downradar.web.runtime import runtime

router = admin_router()
SHOWN = 200


@router.get("/comments", response_class=HTMLResponse)
def comment_list(
    request: Request,
    service: str | None = None,
    hidden: str | None = None,
    session: AdminSession = Depends(signed_in),
) -> HTMLResponse:
    which = {"yes": True, "no": False}.get(hidden or "")
    with runtime(request).engine.connect() as conn:
        services = load_services(conn)
        known = {s.id for s in services}
        found = comments.list_comments(
            conn, service_id=service if service in known else None, hidden=which, limit=SHOWN
        )
    return page(
        request,
        session,
        "comments.html",
        {
            "comments": found,
            "services": services,
            "service_names": {s.id: s.name for s in services},
            "filter_service": service if service in known else "",
            "filter_hidden": hidden if which is not None else "",
        },
    )


def _moderate(request: Request, report_id: int, hidden: bool, form: Posted) -> Response:
    rt = runtime(request)
    try:
        with rt.engine.begin() as conn:
            comments.set_hidden(conn, report_id, hidden, actor=ACTOR, now=rt.clock.now())
    except NotFound as exc:
        return missing(request, form.session, str(exc))
    back = form.get("back")
    target = back if back.startswith("/admin/comments") else "/admin/comments"
    return done(target, "comment-hidden" if hidden else "comment-shown")


@router.post("/comments/{report_id}/hide", response_class=HTMLResponse)
def hide(request: Request, report_id: int, form: Posted = Depends(posted)) -> Response:
    return _moderate(request, report_id, True, form)


@router.post("/comments/{report_id}/show", response_class=HTMLResponse)
def show(request: Request, report_id: int, form: Posted = Depends(posted)) -> Response:
    return _moderate(request, report_id, False, form)
