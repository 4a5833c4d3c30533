"""The audit log: who changed what, when. Written in the same transaction as the change itself."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from downradar.store.schema import audit_log

log = logging.getLogger("downradar.audit")


def record(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    detail: dict[str, Any],
) -> None:
    log.info(
        "%s %s by %s",
        action,
        entity_id,
        actor,
        extra={"action": action, "entity_id": entity_id, "actor": actor},
    )
    conn.execute(
        audit_log.insert().values(
            at=at, actor=actor, action=action, entity=entity, entity_id=entity_id, detail=detail
        )
    )


def entries(
    conn: Connection, *, entity: str | None = None, entity_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(audit_log.c.entity == entity)
    if entity_id is not None:
        query = query.where(audit_log.c.entity_id == entity_id)
    return [{str(key): value for key, value in row.items()} for row in conn.execute(query).mappings()]
