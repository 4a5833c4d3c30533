"""The FastAPI application: public API, Statuspage v2 JSON, admin API, HTML pages."""

from downradar.web.app import create_app

__all__ = ["create_app"]
