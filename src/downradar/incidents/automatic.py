"""Detector findings become incidents, through the same lifecycle code the admin API uses.

The detector (pure, in detect/) says per service and minute: opened, ongoing, recovering or closed, with
the evidence. This module turns that into what an operator would do: open an incident naming what users
report and where, update it when the picture changes, move it to monitoring when volumes fall back, and
resolve it once they have stayed normal. It never touches an incident an operator has taken over
(confirmed or edited), never opens during the service's maintenance, and does not reopen an episode an
operator dismissed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from downradar.catalog import Catalog
from downradar.detect import Finding, TickResult
from downradar.incidents import audit
from downradar.incidents.events import Evidence
from downradar.incidents.lifecycle import DETECTOR, open_incident, resolve_incident, update_incident
from downradar.model import CLOSED_STATUSES, IMPACT_SEVERITY, Impact
from downradar.store.schema import incident_updates, incidents

log = logging.getLogger("downradar.detection")


@dataclass(frozen=True)
class AutomaticPolicy:
    update_every: timedelta = timedelta(minutes=10)  # at most one evidence update this often, unless worse
    component_share: float = 0.10  # components with this share of the excess reports are marked affected
    max_components: int = 5
    major_share: float = 0.30  # a component this dominant in a major incident is a major outage


def _number(value: float) -> str:
    return f"{round(value):,}"


class AutomaticIncidents:
    def __init__(
        self,
        catalog: Catalog,
        policy: AutomaticPolicy | None = None,
        incident_ids: Callable[[Finding], str] | None = None,
    ) -> None:
        """`incident_ids` names new incidents reproducibly (replays); random ids otherwise."""
        self.catalog = catalog
        self.policy = policy or AutomaticPolicy()
        self.incident_ids = incident_ids

    # -- wording -----------------------------------------------------------------------------------------

    def service_name(self, service_id: str) -> str:
        service = self.catalog.service(service_id)
        return service.name if service else service_id

    def title(self, finding: Finding) -> str:
        return f"Users report problems with {self.service_name(finding.service)}"

    def message(self, finding: Finding) -> str:
        """e.g. 'Users report problems with ChatGPT — conversations 40 %, login 10 %; US 86 %;
        6,000 reports in 15 min (usual: 19)'."""
        where = finding.summary
        volume = (
            f"{_number(finding.reports_per_min * 15)} reports in 15 min "
            f"(usual: {_number(finding.baseline_per_min * 15)})"
        )
        parts = [p for p in (where, volume) if p]
        return f"{self.title(finding)} — {'; '.join(parts)}"

    def affected_components(self, finding: Finding) -> dict[str, str]:
        service = self.catalog.service(finding.service)
        if service is None:
            return {}
        known = {c.id for c in service.components}
        affected: dict[str, str] = {}
        for share in finding.components:
            if share.value not in known or share.share < self.policy.component_share:
                continue
            major = finding.impact == "critical" or (
                finding.impact == "major" and share.share >= self.policy.major_share
            )
            affected[share.value] = "major_outage" if major else "partial_outage"
            if len(affected) == self.policy.max_components:
                break
        return affected

    @staticmethod
    def evidence(finding: Finding) -> Evidence:
        return Evidence(
            reports_per_min=finding.reports_per_min,
            baseline_per_min=finding.baseline_per_min,
            score=finding.score,
            regions=tuple(share.value for share in finding.regions[:3]),
        )

    # -- applying ----------------------------------------------------------------------------------------

    def apply(self, conn: Connection, result: TickResult, now: datetime) -> None:
        """Apply one tick's findings in the caller's transaction."""
        for finding in result.findings:
            current = self._current_incident(conn, finding.service)
            if finding.state in ("opened", "ongoing"):
                self._active(conn, finding, current, now)
            elif finding.state == "recovering":
                self._recovering(conn, finding, current, now)
            elif finding.state == "closed":
                self._closed(conn, finding, current, now)

    def _active(
        self, conn: Connection, finding: Finding, current: dict[str, Any] | None, now: datetime
    ) -> None:
        if current is None:
            if self._dismissed_during(conn, finding):
                return
            if self._in_maintenance(conn, finding.service, now):
                if finding.state == "opened":
                    self._suppressed(conn, finding, now)
                return
            incident_id = open_incident(
                conn,
                service_id=finding.service,
                name=self.title(finding),
                message=self.message(finding),
                status="investigating",
                impact=finding.impact,
                components_status=self.affected_components(finding),
                actor=DETECTOR,
                now=now,
                source=DETECTOR,
                started_at=finding.opened_at,
                evidence=self.evidence(finding),
                incident_id=self.incident_ids(finding) if self.incident_ids else None,
            )
            log.info("opened %s for %s: %s", incident_id, finding.service, self.message(finding))
            return
        if current["managed_by"] != DETECTOR:
            return
        worse = IMPACT_SEVERITY[Impact(finding.impact)] > IMPACT_SEVERITY[Impact(current["impact"])]
        if current["status"] == "monitoring":
            self._update(
                conn, current, finding, now, status="investigating", prefix="Reports are rising again. "
            )
        elif worse or now - self._last_update(conn, current["id"]) >= self.policy.update_every:
            message = self.message(finding)
            if worse or message != self._last_body(conn, current["id"]):
                self._update(conn, current, finding, now)

    @staticmethod
    def _suppressed(conn: Connection, finding: Finding, now: datetime) -> None:
        detail = {"reason": "maintenance", "score": finding.score, "summary": finding.summary}
        audit.record(
            conn,
            at=now,
            actor=DETECTOR,
            action="detection.suppressed",
            entity="service",
            entity_id=finding.service,
            detail=detail,
        )

    def _recovering(
        self, conn: Connection, finding: Finding, current: dict[str, Any] | None, now: datetime
    ) -> None:
        if current is None or current["managed_by"] != DETECTOR or current["status"] == "monitoring":
            return
        update_incident(
            conn,
            current["id"],
            actor=DETECTOR,
            now=now,
            status="monitoring",
            message=f"Reports are falling back towards the usual level; we are monitoring. "
            f"{_number(finding.reports_per_min * 15)} reports in the last 15 min "
            f"(usual: {_number(finding.baseline_per_min * 15)}).",
            evidence=self.evidence(finding),
        )

    def _closed(
        self, conn: Connection, finding: Finding, current: dict[str, Any] | None, now: datetime
    ) -> None:
        if current is None or current["managed_by"] != DETECTOR:
            return
        resolve_incident(
            conn,
            current["id"],
            actor=DETECTOR,
            now=now,
            message="Reports have been back at the usual level for a while. This incident has been resolved.",
            evidence=self.evidence(finding),
        )
        log.info("resolved %s for %s", current["id"], finding.service)

    def _update(
        self,
        conn: Connection,
        current: dict[str, Any],
        finding: Finding,
        now: datetime,
        status: str | None = None,
        prefix: str = "",
    ) -> None:
        worse_or_same = IMPACT_SEVERITY[Impact(finding.impact)] >= IMPACT_SEVERITY[Impact(current["impact"])]
        update_incident(
            conn,
            current["id"],
            actor=DETECTOR,
            now=now,
            status=status,
            impact=finding.impact if worse_or_same else None,  # impact only grows while it lasts
            message=prefix + self.message(finding),
            components_status=self.affected_components(finding) or None,
            evidence=self.evidence(finding),
        )

    # -- reading -----------------------------------------------------------------------------------------

    @staticmethod
    def _current_incident(conn: Connection, service_id: str) -> dict[str, Any] | None:
        row = (
            conn.execute(
                select(incidents)
                .where(
                    incidents.c.service_id == service_id,
                    incidents.c.kind == "incident",
                    incidents.c.source == DETECTOR,
                    incidents.c.status.not_in(CLOSED_STATUSES),
                )
                .order_by(incidents.c.created_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    @staticmethod
    def _dismissed_during(conn: Connection, finding: Finding) -> bool:
        """An operator dismissed an incident of this very episode: leave it closed."""
        query = select(incidents.c.id).where(
            incidents.c.service_id == finding.service,
            incidents.c.source == DETECTOR,
            incidents.c.dismissed_at.is_not(None),
            incidents.c.started_at >= finding.opened_at,
        )
        return conn.execute(query.limit(1)).first() is not None

    @staticmethod
    def _in_maintenance(conn: Connection, service_id: str, now: datetime) -> bool:
        query = select(incidents.c.id).where(
            incidents.c.service_id == service_id,
            incidents.c.kind == "maintenance",
            incidents.c.status.not_in(CLOSED_STATUSES),
            incidents.c.scheduled_for <= now,
            incidents.c.scheduled_until > now,
        )
        return conn.execute(query.limit(1)).first() is not None

    @staticmethod
    def _last_update(conn: Connection, incident_id: str) -> datetime:
        query = select(incident_updates.c.created_at).where(incident_updates.c.incident_id == incident_id)
        return conn.execute(query.order_by(incident_updates.c.created_at.desc()).limit(1)).scalar_one()

    @staticmethod
    def _last_body(conn: Connection, incident_id: str) -> str:
        query = select(incident_updates.c.body).where(incident_updates.c.incident_id == incident_id)
        return conn.execute(query.order_by(incident_updates.c.created_at.desc()).limit(1)).scalar_one()
