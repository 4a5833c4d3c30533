"""The comments reporters leave: what the public page shows, and operators' moderation.

The page shows the newest visible comments of the last 24 hours, at most one per reporter (its newest),
so one person (or one bot) posting again and again fills one line, not the list. Operators hide a
comment or show it again; each change is audited. Comments are text: pages escape them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, delete, func, or_, select

from downradar.incidents import NotFound, audit
from downradar.store import changes
from downradar.store.schema import comment_moderation, reports

WINDOW = timedelta(hours=24)
SCAN_LIMIT = 2_000  # newest comments read to pick the shown ones from


@dataclass(frozen=True)
class Comment:
    id: int  # the report's id
    service_id: str
    ts: datetime
    component: str
    region: str
    symptom: str
    text: str
    client: str  # a hash, never shown; for the per-reporter limit and the admin view
    hidden: bool


def _query(service_id: str | None, since: datetime | None, include_hidden: bool) -> Select[*tuple[Any, ...]]:
    hidden = func.coalesce(comment_moderation.c.hidden, False).label("hidden")
    query = (
        select(
            reports.c.id,
            reports.c.service_id,
            reports.c.ts,
            reports.c.component,
            reports.c.region,
            reports.c.symptom,
            reports.c.comment,
            reports.c.client,
            hidden,
        )
        .select_from(reports.outerjoin(comment_moderation, comment_moderation.c.report_id == reports.c.id))
        .where(reports.c.comment.is_not(None), reports.c.comment != "")
        .order_by(reports.c.ts.desc(), reports.c.id.desc())
    )
    if service_id is not None:
        query = query.where(reports.c.service_id == service_id)
    if since is not None:
        query = query.where(reports.c.ts >= since)
    if not include_hidden:
        query = query.where(
            or_(comment_moderation.c.hidden.is_(None), and_(comment_moderation.c.hidden.is_(False)))
        )
    return query


def _comment(row: Row[*tuple[Any, ...]]) -> Comment:
    return Comment(*row)


def recent_comments(conn: Connection, service_id: str, now: datetime, limit: int = 20) -> list[Comment]:
    """Visible comments of the last 24 hours, newest first, one per reporter."""
    shown: list[Comment] = []
    seen: set[str] = set()
    for row in conn.execute(_query(service_id, now - WINDOW, include_hidden=False).limit(SCAN_LIMIT)):
        comment = _comment(row)
        if comment.client in seen:
            continue
        seen.add(comment.client)
        shown.append(comment)
        if len(shown) == limit:
            break
    return shown


def list_comments(
    conn: Connection, *, service_id: str | None = None, hidden: bool | None = None, limit: int = 100
) -> list[Comment]:
    """For operators: every comment (hidden ones too, unless `hidden` says which), newest first."""
    query = _query(service_id, None, include_hidden=hidden is not False)
    if hidden is True:
        query = query.where(comment_moderation.c.hidden.is_(True))
    return [_comment(row) for row in conn.execute(query.limit(limit))]


def set_hidden(conn: Connection, report_id: int, hidden: bool, *, actor: str, now: datetime) -> None:
    """Hide a comment from the public page, or show it again."""
    found = conn.execute(
        select(reports.c.service_id).where(reports.c.id == report_id, reports.c.comment.is_not(None))
    ).first()
    if found is None:
        raise NotFound(f"no comment with id {report_id}")
    conn.execute(delete(comment_moderation).where(comment_moderation.c.report_id == report_id))
    conn.execute(comment_moderation.insert().values(report_id=report_id, hidden=hidden, actor=actor, at=now))
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="comment.hidden" if hidden else "comment.shown",
        entity="comment",
        entity_id=str(report_id),
        detail={"service": found.service_id},
    )
    # The service page lists comments: its cached copy must go (other processes hear it too).
    changes.record(conn, "comment", found.service_id)
