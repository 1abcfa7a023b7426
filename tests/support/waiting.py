"""Waiting for what another task or process does (Redis coming back, a write landing)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def until(cond: Callable[[], Any], within: float = 10.0) -> None:
    """Poll ``cond`` at short intervals; fail if it is not true ``within`` seconds.

    For conditions with no event to await (an external process's state); everything
    in-process awaits its own event instead.
    """
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within:.1f} s")
        await asyncio.sleep(0.02)
