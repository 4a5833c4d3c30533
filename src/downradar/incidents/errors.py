from __future__ import annotations


class IncidentError(ValueError):
    """Bad input for an incident change; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(LookupError):
    """The thing named does not exist; the message names it."""
