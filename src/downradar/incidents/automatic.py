"""Detector findings become incidents, through the same lifecycle code the admin API uses.

The detector and fusion (pure, in detect/) say per service and minute: opened, ongoing, recovering or
closed, with the evidence of user reports, probes and the provider's own page. This module turns that into
what an operator would do: open an incident naming what users report and where, which probes fail and what
the provider admits, update it when the picture changes, move it to monitoring when the signals fall
back, and resolve it once they have stayed quiet. It records when the provider's page first admitted the
problem (the acknowledgement delay). It never touches an incident an operator has taken over
(confirmed or edited), never opens during the service's maintenance, and does not reopen an episode an
operator dismissed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from downradar.core.catalog import Catalog
from downradar.core.model import (
    CLOSED_STATUSES,
    COMPONENT_SEVERITY,
    IMPACT_SEVERITY,
    ComponentStatus,
    Impact,
    IncidentStatus,
)
from downradar.detect import Finding, TickResult
from downradar.detect.fusion import SIGNAL_NAMES, FusedFinding
from downradar.incidents import audit
from downradar.incidents.events import Evidence
from downradar.incidents.lifecycle import DETECTOR, open_incident, resolve_incident, update_incident
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
        incident_ids: Callable[[FusedFinding], str] | None = None,
    ) -> None:
        """`incident_ids` names new incidents reproducibly (replays); random ids otherwise."""
        self.catalog = catalog
        self.policy = policy or AutomaticPolicy()
        self.incident_ids = incident_ids

    # -- wording -----------------------------------------------------------------------------------------

    def service_name(self, service_id: str) -> str:
        service = self.catalog.service(service_id)
        return service.name if service else service_id

    def title(self, fused: FusedFinding) -> str:
        name = self.service_name(fused.service)
        if (fused.reports is not None and "reports" in fused.signals) or not fused.signals:
            return f"Users report problems with {name}"
        if "probes" in fused.signals:
            return f"{name} fails our probes"
        return f"{name} reports a problem on its status page"

    def report_text(self, finding: Finding) -> str:
        """e.g. 'conversations 40 %, login 10 %; US 86 %; 6,000 reports in 15 min (usual: 19)'."""
        volume = (
            f"{_number(finding.reports_per_min * 15)} reports in 15 min "
            f"(usual: {_number(finding.baseline_per_min * 15)})"
        )
        return "; ".join(p for p in (finding.summary, volume) if p)

    def message(self, fused: FusedFinding) -> str:
        """e.g. 'Users report problems with ChatGPT — conversations 40 %; US 86 %; 6,000 reports in 15 min
        (usual: 19). Probes: API probe down from 2 of 2 locations (eu, us). Signals that agree: user
        reports, probes.' With reports alone, the first sentence is all."""
        parts = [self.title(fused)]
        if fused.reports is not None and "reports" in fused.signals:
            parts[0] += f" — {self.report_text(fused.reports)}"
        sentences = [parts[0]]
        if fused.probes:
            sentences.append("Probes: " + "; ".join(v.describe() for v in fused.probes))
        if fused.official is not None:
            sentences.append(f"Official status: {self.official_text(fused)}")
        if fused.signals != ("reports",) and fused.signals:
            sentences.append("Signals that agree: " + ", ".join(SIGNAL_NAMES[s] for s in fused.signals))
        return ". ".join(sentences) if len(sentences) > 1 else sentences[0]

    @staticmethod
    def official_text(fused: FusedFinding) -> str:
        official = fused.official
        assert official is not None
        names = "; ".join(f"“{i.name}” ({i.status})" for i in official.incidents[:3])
        return f"{official.description}" + (f" — {names}" if names else "")

    def affected_components(self, fused: FusedFinding) -> dict[str, str]:
        service = self.catalog.service(fused.service)
        if service is None:
            return {}
        known = {c.id for c in service.components}
        affected: dict[str, str] = {}
        finding = fused.reports
        if finding is not None and "reports" in fused.signals:
            for share in finding.components:
                if share.value not in known or share.share < self.policy.component_share:
                    continue
                major = finding.impact == Impact.critical or (
                    finding.impact == Impact.major and share.share >= self.policy.major_share
                )
                affected[share.value] = (
                    ComponentStatus.major_outage.value if major else ComponentStatus.partial_outage.value
                )
                if len(affected) == self.policy.max_components:
                    break
        for slug, status in fused.components.items():
            if slug in known and status in COMPONENT_SEVERITY:
                before = affected.get(slug)
                if before is None or _rank(status) > _rank(before):
                    affected[slug] = status
        return affected

    @staticmethod
    def evidence(fused: FusedFinding) -> Evidence:
        finding = fused.reports
        if finding is None:
            return Evidence(score=fused.score, signals=fused.signals)
        return Evidence(
            reports_per_min=finding.reports_per_min,
            baseline_per_min=finding.baseline_per_min,
            score=finding.score,
            regions=tuple(share.value for share in finding.regions[:3]),
            signals=fused.signals,
        )

    # -- applying ----------------------------------------------------------------------------------------

    def apply(self, conn: Connection, result: TickResult, now: datetime) -> None:
        """Apply one tick's report findings alone (no probes or provider pages) in the caller's
        transaction."""
        self.apply_fused(conn, [FusedFinding.from_reports(f) for f in result.findings], now)

    def apply_fused(self, conn: Connection, findings: Sequence[FusedFinding], now: datetime) -> None:
        """Apply one minute's fused findings in the caller's transaction."""
        for finding in findings:
            current = self._current_incident(conn, finding.service)
            if finding.state in ("opened", "ongoing"):
                self._active(conn, finding, current, now)
            elif finding.state == "recovering":
                self._recovering(conn, finding, current, now)
            elif finding.state == "closed":
                self._closed(conn, finding, current, now)
            if finding.official is not None:
                self._acknowledged(conn, finding)

    def _acknowledged(self, conn: Connection, finding: FusedFinding) -> None:
        """The provider admits the problem: the service's open incident (whoever manages it) records
        when it first did, unless it already has."""
        official = finding.official
        assert official is not None
        query = (
            update(incidents)
            .where(
                incidents.c.service_id == finding.service,
                incidents.c.kind == "incident",
                incidents.c.status.not_in(CLOSED_STATUSES),
                incidents.c.acknowledged_at.is_(None),
            )
            .values(acknowledged_at=official.admitted_at, acknowledgement=self.official_text(finding)[:1000])
        )
        conn.execute(query)

    def _signals(self, conn: Connection, incident_id: str, finding: FusedFinding) -> None:
        """Keep the incident's record of every kind of signal that has agreed during it."""
        before = conn.execute(select(incidents.c.signals).where(incidents.c.id == incident_id)).scalar()
        merged = [
            s for s in ("reports", "probes", "official") if s in set(before or ()) | set(finding.signals)
        ]
        if merged != (before or []):
            conn.execute(update(incidents).where(incidents.c.id == incident_id).values(signals=merged))

    def _active(
        self, conn: Connection, finding: FusedFinding, current: dict[str, Any] | None, now: datetime
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
                status=IncidentStatus.investigating.value,
                impact=finding.impact,
                components_status=self.affected_components(finding),
                actor=DETECTOR,
                now=now,
                source=DETECTOR,
                started_at=finding.opened_at,
                evidence=self.evidence(finding),
                incident_id=self.incident_ids(finding) if self.incident_ids else None,
            )
            self._signals(conn, incident_id, finding)
            log.info("opened %s for %s: %s", incident_id, finding.service, self.message(finding))
            return
        if current["managed_by"] != DETECTOR:
            return
        self._signals(conn, current["id"], finding)
        worse = IMPACT_SEVERITY[Impact(finding.impact)] > IMPACT_SEVERITY[Impact(current["impact"])]
        if current["status"] == IncidentStatus.monitoring:
            again = "Reports are rising again. " if "reports" in finding.signals else "The problem is back. "
            self._update(conn, current, finding, now, status=IncidentStatus.investigating.value, prefix=again)
        elif worse or now - self._last_update(conn, current["id"]) >= self.policy.update_every:
            message = self.message(finding)
            if worse or message != self._last_body(conn, current["id"]):
                self._update(conn, current, finding, now)

    @staticmethod
    def _suppressed(conn: Connection, finding: FusedFinding, now: datetime) -> None:
        summary = finding.reports.summary if finding.reports is not None else ""
        detail = {
            "reason": "maintenance",
            "score": finding.score,
            "summary": summary,
            "signals": finding.signals,
        }
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
        self, conn: Connection, finding: FusedFinding, current: dict[str, Any] | None, now: datetime
    ) -> None:
        if (
            current is None
            or current["managed_by"] != DETECTOR
            or current["status"] == IncidentStatus.monitoring
        ):
            return
        report = finding.reports
        if report is not None:
            message = (
                f"Reports are falling back towards the usual level; we are monitoring. "
                f"{_number(report.reports_per_min * 15)} reports in the last 15 min "
                f"(usual: {_number(report.baseline_per_min * 15)})."
            )
        else:
            message = "The failing signals have recovered; we are monitoring."
        update_incident(
            conn,
            current["id"],
            actor=DETECTOR,
            now=now,
            status=IncidentStatus.monitoring.value,
            message=message,
            evidence=self.evidence(finding),
        )

    def _closed(
        self, conn: Connection, finding: FusedFinding, current: dict[str, Any] | None, now: datetime
    ) -> None:
        if current is None or current["managed_by"] != DETECTOR:
            return
        what = "Reports have" if finding.reports is not None else "Every signal has"
        resolve_incident(
            conn,
            current["id"],
            actor=DETECTOR,
            now=now,
            message=f"{what} been back at the usual level for a while. This incident has been resolved.",
            evidence=self.evidence(finding),
        )
        log.info("resolved %s for %s", current["id"], finding.service)

    def _update(
        self,
        conn: Connection,
        current: dict[str, Any],
        finding: FusedFinding,
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
    def _dismissed_during(conn: Connection, finding: FusedFinding) -> bool:
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
        created: datetime = conn.execute(
            query.order_by(incident_updates.c.created_at.desc()).limit(1)
        ).scalar_one()
        return created

    @staticmethod
    def _last_body(conn: Connection, incident_id: str) -> str:
        query = select(incident_updates.c.body).where(incident_updates.c.incident_id == incident_id)
        body: str = conn.execute(query.order_by(incident_updates.c.created_at.desc()).limit(1)).scalar_one()
        return body


def _rank(status: str) -> int:
    return COMPONENT_SEVERITY[ComponentStatus(status)]
