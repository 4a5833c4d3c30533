"""What other sites embed: SVG status badges and a small status widget."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
