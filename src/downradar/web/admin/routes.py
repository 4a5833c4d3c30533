"""The admin UI's pages and forms."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/admin", include_in_schema=False)
