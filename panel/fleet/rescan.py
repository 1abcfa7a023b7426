"""Rescanning: what the host feed and the Redis feed share, a refresh every second.

Each feed says how to refresh its members once (:meth:`Rescanning.refresh`); this runs
it on one task, counts the refreshes that worked and sets ``changed`` after each, so a
view (or a test) can await the next one instead of polling. An engine that leaves is
kept for ``GONE_KEEP`` seconds as a "gone" row (its last figures, greyed), so the
operator sees that a worker died instead of a row that silently vanished.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

GONE_KEEP = 60.0
"""Seconds a departed engine's row stays in the Fleet view, marked gone."""


class Rescanning:
    """A feed whose members are refreshed every ``rescan`` seconds on one task."""

    rescan = 1.0
    """Seconds between refreshes (how fast a new engine appears)."""
    task_name = "fleet-feed"

    def __init__(self) -> None:
        self.error: str | None = None  # why the last refresh failed, None when it worked
        self.scans = 0
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.departed: dict[str, tuple[dict[str, Any], float]] = {}  # id: (last row, when)

    def now(self) -> float:
        """The clock rows are aged by (the Redis feed uses wall time, as beats carry)."""
        return time.monotonic()

    def depart(self, key: str, last_row: dict[str, Any]) -> None:
        """Engine ``key`` left: keep its last row for a while, marked gone."""
        self.departed[key] = (last_row, self.now())

    def arrive(self, key: str) -> None:
        """Engine ``key`` is (back) in the fleet: not gone any more (a Redis that came
        back empty lost every heartbeat for a beat; the rows said "gone" for a minute
        beside the live ones)."""
        self.departed.pop(key, None)

    def departed_rows(self, now: float) -> list[dict[str, Any]]:
        """The rows of engines that left in the last ``GONE_KEEP`` s, newest first:
        level ``gone``, ``age`` the seconds since they left, nothing live about them."""
        for key in [k for k, (_, t) in self.departed.items() if now - t > GONE_KEEP]:
            del self.departed[key]
        return [
            dict(row, level="gone", age=now - t, rate=None, redis=None)
            for row, t in sorted(self.departed.values(), key=lambda rt: -rt[1])
        ]

    async def refresh(self) -> bool:
        """One refresh of the members; False (with ``error`` set) when it failed."""
        raise NotImplementedError

    async def scan(self) -> None:
        """One refresh now; counted and announced on ``changed`` if it worked."""
        if await self.refresh():
            self.scans += 1
            self.changed.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        """Stop refreshing (subclasses also close what they hold)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.scan()
            await asyncio.sleep(self.rescan)
