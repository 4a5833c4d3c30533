"""Waiting for something a background loop does, without asserting how long it took."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None], seconds: float) -> T:
    """Poll until `probe` gives something truthy and return it; fail naming what never came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"within {seconds:g} s: {what}")
