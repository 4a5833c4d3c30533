"""Where an incident's public page lives: one rule for notifications, feeds and the Statuspage API."""

from __future__ import annotations


def incident_url(base_url: str, incident_id: str) -> str:
    """e.g. https://status.example.com/incidents/abc123 (`base_url` with or without a trailing slash)."""
    return f"{base_url.rstrip('/')}/incidents/{incident_id}"
