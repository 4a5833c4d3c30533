"""The request bodies of the admin API, shared with the admin forms: both validate the same model, so a value
one refuses the other refuses too, naming the same field.

The models check shapes and types; the rules of the domain (allowed statuses, lengths, a window that ends
after it starts) stay with incidents/lifecycle.py and notify/routes.py, which both paths call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import ErrorDetails
from sqlalchemy import Connection

from downradar.core.model import Impact, IncidentStatus
from downradar.incidents import lifecycle
from downradar.notify import routes
from downradar.notify.targets import AllowList

# Where FastAPI puts what it validated; not part of the field's name.
_REQUEST_PARTS = ("body", "query", "path")


def _seconds(value: Any) -> Any:
    """Numbers and numeric strings pass on to float validation; other strings get a message that says
    what is wanted, in the API as in the form."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("give a number of seconds") from None
    return value


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentCreate(_Body):
    service: str
    name: str
    message: str
    status: str = IncidentStatus.investigating.value
    impact: str = Impact.minor.value
    components: dict[str, str] = Field(default_factory=dict, description="component slug → component status")
    started_at: AwareDatetime | None = None

    def open(self, conn: Connection, *, actor: str, now: datetime) -> str:
        """Open the incident this body asks for (the API's and the composer's one way in)."""
        return lifecycle.open_incident(
            conn,
            service_id=self.service,
            name=self.name,
            message=self.message,
            status=self.status,
            impact=self.impact,
            components_status=self.components,
            started_at=self.started_at,
            actor=actor,
            now=now,
        )


class IncidentChange(_Body):
    name: str | None = None
    status: str | None = None
    impact: str | None = None
    message: str | None = None
    components: dict[str, str] | None = None


class IncidentUpdatePost(_Body):
    message: str
    status: str | None = None
    components: dict[str, str] | None = None


class IncidentResolve(_Body):
    message: str | None = None


class IncidentDismiss(_Body):
    reason: str = Field(min_length=1, max_length=2000, description="Why the detected incident is not real")


class MaintenanceCreate(_Body):
    service: str
    name: str
    message: str
    scheduled_for: AwareDatetime
    scheduled_until: AwareDatetime
    components: list[str] = Field(default_factory=list, description="component slugs under maintenance")
    auto_transition: bool = True

    def schedule(self, conn: Connection, *, actor: str, now: datetime) -> str:
        """Schedule the maintenance this body asks for (the API's and the admin form's one way in)."""
        return lifecycle.schedule_maintenance(
            conn,
            service_id=self.service,
            name=self.name,
            message=self.message,
            scheduled_for=self.scheduled_for,
            scheduled_until=self.scheduled_until,
            component_slugs=self.components,
            auto_transition=self.auto_transition,
            actor=actor,
            now=now,
        )


class ComponentStatusChange(_Body):
    status: str | None = Field(
        description="a component status; 'operational' or null removes the status set by hand"
    )


class RouteCreate(_Body):
    name: str
    channel: Literal["webhook", "apprise"] = Field(
        default="webhook", description="webhook: signed JSON POSTs; apprise: any Apprise URL"
    )
    url: str = Field(
        description="webhook: an http(s) URL reaching a public address; apprise: an Apprise URL "
        "(slack://…, pagerduty://…, ntfys://…); shown redacted afterwards"
    )
    secret: str | None = Field(
        default=None, description="webhook only: HMAC-SHA256 signing key, 16 to 200 characters; never shown"
    )
    services: list[str] = Field(default_factory=list, description="service ids; empty for every service")
    enabled: bool = True
    group_wait_seconds: Seconds | None = Field(
        default=None, description="default DOWNRADAR_GROUP_WAIT_SECONDS"
    )
    group_interval_seconds: Seconds | None = Field(
        default=None, description="default DOWNRADAR_GROUP_INTERVAL_SECONDS"
    )
    repeat_interval_seconds: Seconds | None = Field(
        default=None, description="remind of open incidents this often; 0 never; default the server's"
    )

    def create(self, conn: Connection, *, allow: AllowList, actor: str, now: datetime) -> dict[str, Any]:
        """Add the alert route this body asks for (the API's and the admin form's one way in)."""
        return routes.create_route(
            conn,
            name=self.name,
            url=self.url,
            secret=self.secret,
            services_=self.services,
            enabled=self.enabled,
            channel=self.channel,
            group_wait_seconds=self.group_wait_seconds,
            group_interval_seconds=self.group_interval_seconds,
            repeat_interval_seconds=self.repeat_interval_seconds,
            allow=allow,
            actor=actor,
            now=now,
        )


def error_fields(errors: Sequence[ErrorDetails]) -> list[dict[str, str]]:
    """pydantic's errors as {"field", "message"}: the field dotted (components.search), the message without
    pydantic's "Value error, " prefix. The JSON API answers with these; the admin forms mark these fields."""
    out = []
    for error in errors:
        loc = [str(part) for part in error["loc"] if part not in _REQUEST_PARTS]
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        out.append({"field": ".".join(loc) or "body", "message": message})
    return out
