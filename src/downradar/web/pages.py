"""HTML pages (server-rendered, no JavaScript needed)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
