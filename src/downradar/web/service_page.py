"""The service page: what an outage tracker shows about one service, and its "Report a problem" form."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
