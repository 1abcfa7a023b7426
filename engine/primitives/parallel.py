"""Parallel: run branches concurrently on the same input and keep a timeline of each run."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Any, Literal

from flowdeck.engine.context import Context
from flowdeck.engine.primitives.base import Primitive, as_primitive
from flowdeck.engine.telemetry.events import EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

_perf = time.perf_counter
_run_ids = itertools.count(1)

OK, ERROR, CANCELLED = "ok", "error", "cancelled"


class Parallel(Primitive):
    """Run every branch on the same input; the result is the list of branch results.

    ``fail="fast"`` cancels the siblings on the first error and raises it;
    ``fail="collect"`` waits for all and puts exceptions in place of results.
    ``limit`` bounds how many branches run at once. Each run's timeline (per branch:
    name, start and end offset from the run's start, status) is kept in a ring of
    the last ``history`` runs.

    Counting: ``cancelled`` is runs their caller cancelled; ``branches_cancelled`` is
    every branch a timeline marks cancelled (fail-fast siblings, branches that never
    got a ``limit`` slot, branches of cancelled runs), the same branches the gantt
    shows. Speedup (busy time over wall time) counts only runs in which every branch
    ran to its end: a fail-fast run stops its siblings early, so its overlap measures
    abandoned work, not parallelism; such a run's speedup is None.
    """

    kind = "parallel"

    def __init__(
        self,
        branches: list[Any] | tuple[Any, ...],
        *,
        name: str | None = None,
        limit: int | None = None,
        fail: Literal["fast", "collect"] = "fast",
        history: int = 50,
    ) -> None:
        if fail not in ("fast", "collect"):
            raise ValueError(f"Parallel fail must be 'fast' or 'collect', got {fail!r}")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"Parallel limit must be a positive integer, got {limit!r}")
        if not branches:
            raise ValueError("Parallel needs at least one branch")
        self.name = name
        self.branches: list[Primitive] = [as_primitive(b) for b in branches]
        self.limit = limit
        self.fail = fail
        self._sem = asyncio.Semaphore(limit) if limit else None
        self.timelines: deque[tuple[Any, ...]] = deque(maxlen=history)
        self._names: list[str] | None = None
        self.runs = 0
        self.errors = 0
        self.cancelled = 0
        self.branches_cancelled = 0
        self.wall = LatencyWindow(256)
        self._busy_total = 0.0
        self._wall_total = 0.0

    @classmethod
    def _join(cls, left: Primitive, right: Primitive) -> Parallel:
        """``left | right``: anonymous groups without options flatten so ``|`` is
        associative; a group with a ``limit`` (or ``fail="collect"``, or a name) stays
        one branch, so its options still hold for its own branches."""
        branches: list[Primitive] = []
        for side in (left, right):
            if (
                isinstance(side, Parallel)
                and side.name is None
                and side.fail == "fast"
                and side.limit is None
            ):
                branches.extend(side.branches)
            else:
                branches.append(side)
        return cls(branches)

    def children(self) -> tuple[Primitive, ...]:
        return tuple(self.branches)

    def branch_names(self) -> list[str]:
        """Display names: a branch's name, a provider's label, else kind and index."""
        names = self._names
        if names is None:
            names = self._names = [
                b.name or getattr(b, "label", None) or f"{b.kind}{i}"
                for i, b in enumerate(self.branches)
            ]
        return names

    async def execute(self, data: Any, ctx: Context) -> list[Any]:
        n = len(self.branches)
        marks: list[Any] = [None] * n
        t0 = _perf()
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(self._branch(i, b, data, ctx, marks, t0))
            for i, b in enumerate(self.branches)
        ]
        status = OK
        try:
            if self.fail == "collect":
                results = await asyncio.gather(*tasks, return_exceptions=True)
                if any(isinstance(r, BaseException) for r in results):
                    status = ERROR
                return results
            try:
                return await asyncio.gather(*tasks)
            except asyncio.CancelledError:
                raise
            except BaseException:
                # gather re-raises the first error but leaves the siblings running:
                # fail fast means cancelling them and waiting until they are gone.
                status = ERROR
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        except asyncio.CancelledError:
            status = CANCELLED
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self._record(t0, marks, status)

    async def _branch(
        self, i: int, branch: Primitive, data: Any, ctx: Context, marks: list[Any], t0: float
    ) -> Any:
        sem = self._sem
        if sem is not None:
            await sem.acquire()
        start = _perf() - t0
        try:
            result = await branch.execute(data, ctx)
        except asyncio.CancelledError:
            marks[i] = (start, _perf() - t0, CANCELLED)
            raise
        except BaseException:
            marks[i] = (start, _perf() - t0, ERROR)
            raise
        finally:
            if sem is not None:
                sem.release()
        marks[i] = (start, _perf() - t0, OK)
        return result

    def _record(self, t0: float, marks: list[Any], status: str) -> None:
        wall = _perf() - t0
        run_id = next(_run_ids)
        self.runs += 1
        if status == ERROR:
            self.errors += 1
        elif status == CANCELLED:
            self.cancelled += 1
        self.wall.record(wall)
        busy = 0.0
        stopped = 0
        names = self.branch_names()
        bus = self._bus
        for i, m in enumerate(marks):
            if m is None:  # never started (cancelled while waiting for the limit)
                marks[i] = m = (wall, wall, CANCELLED)
            if m[2] == CANCELLED:
                stopped += 1
            busy += m[1] - m[0]
            bus.emit6(EventKind.PARALLEL_BRANCH, self.name, run_id, names[i], m[0], m[1], m[2])
        if stopped:
            self.branches_cancelled += stopped
        else:  # only runs whose branches all finished say anything about parallelism
            self._busy_total += busy
            self._wall_total += wall
        bus.emit5(EventKind.PARALLEL_RUN, self.name, run_id, wall, status, len(marks))
        self.timelines.append((run_id, time.time() - wall, wall, status, names, marks))

    def stats(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "errors": self.errors,
            "cancelled": self.cancelled,
            "branches_cancelled": self.branches_cancelled,
            "wall": self.wall.summary(),
            "speedup": (self._busy_total / self._wall_total) if self._wall_total > 0 else None,
        }

    def recent_timelines(self, count: int | None = None) -> list[dict[str, Any]]:
        runs = list(self.timelines)
        if count is not None:
            runs = runs[-count:]
        out = []
        for run_id, started, wall, status, names, marks in runs:
            busy = sum(m[1] - m[0] for m in marks)
            finished = all(m[2] != CANCELLED for m in marks)
            out.append(
                {
                    "run_id": run_id,
                    "started": started,
                    "wall": wall,
                    "status": status,
                    "speedup": busy / wall if wall > 0 and finished else None,
                    "branches": [
                        {"name": nm, "start": m[0], "end": m[1], "status": m[2]}
                        for nm, m in zip(names, marks, strict=True)
                    ],
                }
            )
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "branches": self.branch_names(),
            "limit": self.limit,
            "fail": self.fail,
            "stats": self.stats(),
            "timelines": self.recent_timelines(10),
        }

    def __repr__(self) -> str:
        return "(" + " | ".join(repr(b) for b in self.branches) + ")"
