"""The tables. Alembic migrations under migrations/ create exactly these (a test checks they agree)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from downradar.store.types import BigId, UTCDateTime

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("url", Text),
    Column("position", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per service component; `id` is "<service>.<component>" so it is unique on the whole page.
components = Table(
    "components",
    metadata,
    Column("id", String(140), primary_key=True),
    Column("service_id", String(64), ForeignKey("services.id"), nullable=False),
    Column("slug", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("group_name", String(200)),
    Column("position", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("showcase", Boolean, nullable=False),
    Column("only_show_if_degraded", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # A status an operator set directly (never "operational": that clears it); one more claim next to
    # the open incidents' and active maintenance's, see incidents/lifecycle.py `_recompute`.
    Column("manual_status", String(32)),
    Column("manual_status_at", UTCDateTime),
    Column("manual_status_by", String(64)),
    UniqueConstraint("service_id", "slug", name="uq_components_service_slug"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("service_id", String(64), ForeignKey("services.id"), nullable=False),
    Column("component", String(64), nullable=False),
    Column("region", String(8), nullable=False),
    Column("symptom", String(64), nullable=False),
    Column("client", String(128), nullable=False),
    Column("comment", Text),
    Column("duplicate", Boolean, nullable=False),
    Column("source", String(8), nullable=False),
    Index("ix_reports_service_ts", "service_id", "ts"),
    Index("ix_reports_service_client_ts", "service_id", "client", "ts"),
)

# Per-minute roll-up of reports. `reports` counts every accepted report; `clients` counts distinct
# reporters (a client's first report per service in the dedup window), the volume that matters.
report_minutes = Table(
    "report_minutes",
    metadata,
    Column("service_id", String(64), ForeignKey("services.id"), primary_key=True),
    Column("minute", UTCDateTime, primary_key=True),
    Column("component", String(64), primary_key=True),
    Column("region", String(8), primary_key=True),
    Column("symptom", String(64), primary_key=True),
    Column("reports", Integer, nullable=False),
    Column("clients", Integer, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("service_id", String(64), ForeignKey("services.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # incident | maintenance
    Column("name", String(300), nullable=False),
    Column("status", String(32), nullable=False),
    Column("impact", String(16), nullable=False),
    Column("source", String(16), nullable=False),  # manual | detector
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("monitoring_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("scheduled_for", UTCDateTime),
    Column("scheduled_until", UTCDateTime),
    Column("auto_transition", Boolean, nullable=False),
    # Detector-opened incidents stay under the detector's control until an operator confirms or edits them.
    Column("managed_by", String(16), nullable=False, server_default="operator"),
    Column("confirmed_at", UTCDateTime),
    Column("dismissed_at", UTCDateTime),
    # Which signals agree (user reports, probes, official status), and when the provider's own page first
    # admitted the problem (None: not yet, or the service watches no page).
    Column("signals", JSON),
    Column("acknowledged_at", UTCDateTime),
    Column("acknowledgement", Text),
    Index("ix_incidents_kind_created", "kind", "created_at"),
    Index("ix_incidents_status", "status"),
)

incident_components = Table(
    "incident_components",
    metadata,
    Column("incident_id", String(16), ForeignKey("incidents.id"), primary_key=True),
    Column("component_id", String(140), ForeignKey("components.id"), primary_key=True),
    Column("status", String(32), nullable=False),
)

incident_updates = Table(
    "incident_updates",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("incident_id", String(16), ForeignKey("incidents.id"), nullable=False),
    Column("status", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("display_at", UTCDateTime, nullable=False),
    Column("affected_components", JSON, nullable=False),
    Index("ix_incident_updates_incident", "incident_id", "created_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(140), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_log_entity", "entity", "entity_id"),
)

# Incident events (DESIGN.md 3.2), in the order they happened; replay writes the same records to a file.
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("type", String(32), nullable=False),
    Column("incident_id", String(16), ForeignKey("incidents.id"), nullable=False),
    Column("service_id", String(64), nullable=False),
    Column("record", JSON, nullable=False),
    Index("ix_events_ts", "ts"),
)

# Operators' alert routes. `channel` is "webhook" (`url` gets signed POSTs) or "apprise" (`url` is an
# Apprise URL, which carries the channel's own credentials and is never shown whole). `services` lists the
# service ids a route is for; an empty list means every service. The grouping times are per route; NULL
# takes the server's default. `last_notified_at` is when the route last got a message (group interval).
alert_routes = Table(
    "alert_routes",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("channel", String(16), nullable=False, server_default="webhook"),
    Column("url", Text, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("services", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("group_wait_seconds", Float),
    Column("group_interval_seconds", Float),
    Column("repeat_interval_seconds", Float),
    Column("last_notified_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

# Public subscribers from the status page: "email" (double opt-in) or "webhook" (signed like routes).
# `components` lists service ids (the whole service) or component ids; empty means everything.
# `state` is pending | active | unsubscribed. Only a hash of the confirmation token is kept, since it is
# sent once; the unsubscribe token goes into every message, so it is kept as is, and never shown.
# `pending_components` holds a changed choice of an active subscriber until the new e-mail is confirmed.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("address", Text, nullable=False),
    Column("secret", String(200)),
    Column("components", JSON, nullable=False),
    Column("pending_components", JSON),
    Column("state", String(16), nullable=False),
    Column("confirm_token_hash", String(64)),
    Column("confirm_sent_at", UTCDateTime),
    Column("unsubscribe_token", String(64), nullable=False),
    Column("last_notified_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    UniqueConstraint("channel", "address", name="uq_subscribers_channel_address"),
    Index("ix_subscribers_state", "state"),
    Index("ix_subscribers_unsubscribe_token", "unsubscribe_token", unique=True),
    Index("ix_subscribers_confirm_token_hash", "confirm_token_hash"),
)

# The outbox: one row per (event, recipient), written in the event's transaction. A recipient is
# "route:<id>" or "subscriber:<id>". `kind` is "event" or "reminder" (an open incident repeated).
# `message_id` is set when the worker groups the row into a message.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("recipient", String(40), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("incident_id", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("message_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_outbox_unassigned", "message_id", "recipient"),
    Index("ix_outbox_recipient_incident", "recipient", "incident_id"),
)

# Messages: what a recipient is sent, one or more outbox rows grouped. `id` is the stable delivery id that
# receivers de-duplicate on; `claim` is the token of the worker currently sending it.
messages = Table(
    "messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("recipient", String(40), nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | expired
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claim", String(32)),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_messages_status_next", "status", "next_attempt_at"),
    Index("ix_messages_recipient_status", "recipient", "status"),
)

# The dedup key a paging route was given for an incident: its own, or the key of the storm page that
# covered it, so that later updates and the resolve reach the same page.
page_keys = Table(
    "page_keys",
    metadata,
    Column("recipient", String(40), primary_key=True),
    Column("incident_id", String(16), primary_key=True),
    Column("dedup_key", String(120), nullable=False),
)

# Probes: those of the catalog (`source` "catalog", rewritten at every start) and those made through the
# admin API ("api"). `id` is "<service>.<slug>"; `spec` is the ProbeSpec as JSON.
probes = Table(
    "probes",
    metadata,
    Column("id", String(140), primary_key=True),
    Column("service_id", String(64), ForeignKey("services.id"), nullable=False),
    Column("slug", String(64), nullable=False),
    Column("component", String(64)),
    Column("spec", JSON, nullable=False),
    Column("source", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_probes_service", "service_id"),
)

# One row per check a location ran. `ts` is when the check started (the location's clock); `ok` whether
# every condition held; `error` says what failed, in words.
probe_results = Table(
    "probe_results",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("probe_id", String(140), nullable=False),
    Column("location", String(64), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("latency_ms", Float),
    Column("status_code", Integer),
    Column("error", Text),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_probe_results_probe_ts", "probe_id", "ts"),
    Index("ix_probe_results_received", "received_at"),
)

# Places probes run from besides the server itself. Only a hash of an agent's token is kept.
probe_locations = Table(
    "probe_locations",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime),
    Index("ix_probe_locations_token_hash", "token_hash", unique=True),
)

# The provider status page a service watches: how it was last fetched (validators for conditional
# requests), and the last good state, which stays when the page becomes unreachable.
upstream_feeds = Table(
    "upstream_feeds",
    metadata,
    Column("service_id", String(64), ForeignKey("services.id"), primary_key=True),
    Column("url", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # auto | statuspage | feed, as configured
    Column("detected_kind", String(16)),  # statuspage | feed, once known
    Column("fetch_url", Text),  # what is actually polled (summary.json or the feed)
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_polled_at", UTCDateTime),
    Column("last_ok_at", UTCDateTime),
    Column("last_error", Text),
    Column("failures", Integer, nullable=False),
    Column("state", JSON),
    Column("state_since", UTCDateTime),
)

# Every change of a provider's admitted state, with the time we saw it and the provider's own time.
# `indicator` is Statuspage's none | minor | major | critical | maintenance; `components` maps our component
# slugs to Statuspage component statuses; `incidents` lists the provider's open incidents.
upstream_changes = Table(
    "upstream_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("service_id", String(64), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("components", JSON, nullable=False),
    Column("incidents", JSON, nullable=False),
    Column("provider_updated_at", UTCDateTime),
    Index("ix_upstream_changes_service_ts", "service_id", "ts"),
    Index("ix_upstream_changes_ts", "ts"),
)

# Moderation of the comments reports carry: a row per comment an operator hid (or showed again).
comment_moderation = Table(
    "comment_moderation",
    metadata,
    Column("report_id", BigId, ForeignKey("reports.id"), primary_key=True),
    Column("hidden", Boolean, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)
