"""Rescanning: what the host feed and the Redis feed share, a refresh every second.

Each feed says how to refresh its members once (:meth:`Rescanning.refresh`); this runs
it on one task, counts the refreshes that worked and sets ``changed`` after each, so a
view (or a test) can await the next one instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib


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
