"""FleetFeed: the engines of this host and their latest ``stats``, kept current.

Discovery runs every ``rescan`` seconds (new engines appear, gone ones leave). Each
engine gets one connection with a stats-only subscription (never its event stream), so
watching eight engines costs eight small frames per stats interval. The feed is pure
data: the view reads :meth:`rows` and :meth:`totals` when it repaints.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowdeck.engine.control import discovery as D
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ControlClient, ControlError
from flowdeck.panel.fleet.rescan import Rescanning

LATE, STALE = 2.0, 5.0
"""Seconds without a stats frame after which an engine's row is amber / red."""
RATE_WINDOW = 2.0
"""Seconds of counters one req/s figure spans (stats frames come every 0.25 s)."""


@dataclass
class Member:
    """One engine of the fleet and what the feed last heard from it."""

    engine: D.LiveEngine
    stats: dict[str, Any] = field(default_factory=dict)
    seen: float = 0.0  # monotonic time of the last stats frame
    rate: float | None = None  # flow runs per second, from the last two frames
    task: asyncio.Task[None] | None = None
    base: tuple[float, float] | None = None  # (runs, time) the rate is measured from

    @property
    def read_only(self) -> bool:
        return bool(self.engine.hello.get("read_only"))

    def age(self, now: float | None = None) -> float | None:
        if not self.seen:
            return None
        return (time.monotonic() if now is None else now) - self.seen

    def level(self, now: float | None = None) -> str:
        """``ok`` / ``late`` / ``stale`` by the age of its data."""
        age = self.age(now)
        if age is None or age >= STALE:
            return "stale"
        return "late" if age >= LATE else "ok"

    def take(self, stats: dict[str, Any]) -> None:
        now = _runs_at(stats)
        base = self.base
        if now is not None and (base is None or now[0] < base[0] or now[1] < base[1]):
            self.base = now  # first frame, or counters went back: measure from here
        elif now is not None and base is not None and now[1] - base[1] >= RATE_WINDOW:
            self.rate = (now[0] - base[0]) / (now[1] - base[1])
            self.base = now
        self.stats = stats
        self.seen = time.monotonic()


def _runs_at(stats: dict[str, Any]) -> tuple[float, float] | None:
    runs, t = (stats.get("workload") or {}).get("runs"), stats.get("time")
    if isinstance(runs, int | float) and isinstance(t, int | float):
        return float(runs), float(t)
    return None


def _hits(c: dict[str, Any]) -> tuple[int, int]:
    h, m = c.get("hits", 0), c.get("misses", 0)
    return (h if isinstance(h, int) else 0), (m if isinstance(m, int) else 0)


def row_of(m: Member, now: float | None = None) -> dict[str, Any]:
    """What the Fleet table shows for one engine."""
    st = m.stats
    hits = misses = 0
    for c in (st.get("caches") or {}).values():
        h, x = _hits(c)
        hits, misses = hits + h, misses + x
    redis = st.get("redis")
    return {
        "name": m.engine.name,
        "read_only": m.read_only,
        "host": m.engine.host,
        "pid": m.engine.pid,
        "id": m.engine.id,
        "uptime": st.get("uptime", m.engine.uptime()),
        "rate": m.rate,
        "hit_rate": hits / (hits + misses) if hits + misses else None,
        "errors": (st.get("workload") or {}).get("errors", 0),
        "redis": None if not isinstance(redis, dict) else bool(redis.get("up")),
        "age": m.age(now),
        "level": m.level(now),
    }


def totals_of(members: list[Member]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per cache, router and memory name, summed over engines."""
    caches: dict[str, dict[str, Any]] = {}
    routers: dict[str, dict[str, Any]] = {}
    memories: dict[str, dict[str, Any]] = {}
    for m in members:
        for name, mem in (m.stats.get("memories") or {}).items():
            t = memories.setdefault(name, {"engines": 0, "size": 0})
            size = mem.get("size", 0) if isinstance(mem, dict) else 0
            t["engines"] += 1
            t["size"] += size if isinstance(size, int) else 0
        for name, c in (m.stats.get("caches") or {}).items():
            t = caches.setdefault(name, {"engines": 0, "hits": 0, "misses": 0, "size": 0})
            h, x = _hits(c)
            size = c.get("size", 0)
            t["engines"] += 1
            t["hits"] += h
            t["misses"] += x
            t["size"] += size if isinstance(size, int) else 0
        for name, r in (m.stats.get("routers") or {}).items():
            t = routers.setdefault(name, {"engines": 0, "routes": {}, "pins": {}})
            t["engines"] += 1
            pinned = r.get("pinned")  # None: auto; a route name, bounded as the stats are
            pin = pinned[:64] if isinstance(pinned, str) else None
            t["pins"][pin] = t["pins"].get(pin, 0) + 1
            for route, rs in (r.get("routes") or {}).items():
                n = rs.get("count", 0) if isinstance(rs, dict) else 0
                t["routes"][route] = t["routes"].get(route, 0) + (n if isinstance(n, int) else 0)
    for t in caches.values():
        looked = t["hits"] + t["misses"]
        t["hit_rate"] = t["hits"] / looked if looked else None
    for t in routers.values():
        total = sum(t["routes"].values())
        t["split"] = {k: (v / total if total else 0.0) for k, v in t["routes"].items()}
    return {"caches": caches, "routers": routers, "memories": memories}


class FleetFeed(Rescanning):
    """Discover the engines of ``directory`` and follow each one's ``stats``."""

    def __init__(self, directory: Path | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.members: dict[str, Member] = {}  # by engine id

    async def stop(self) -> None:
        await super().stop()
        tasks = [m.task for m in self.members.values() if m.task is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def ordered(self) -> list[Member]:
        return sorted(self.members.values(), key=lambda m: (m.engine.name, m.engine.pid))

    def rows(self) -> list[dict[str, Any]]:
        """The live engines' rows, then those of engines gone in the last minute."""
        now = self.now()
        return [row_of(m, now) for m in self.ordered()] + self.departed_rows(now)

    def totals(self) -> dict[str, dict[str, dict[str, Any]]]:
        return totals_of(self.ordered())

    def targets(self, kind: str, name: str) -> list[Member]:
        return targets_of(self.ordered(), kind, name)

    async def apply(self, method: str, params: dict[str, Any], kind: str, name: str) -> Outcome:
        """``method`` on every engine of this host that has the primitive (its socket)."""
        return await apply_everywhere(self.ordered(), method, params, kind, name)

    async def refresh(self) -> bool:
        """One discovery: add new engines, drop those whose socket is gone."""
        try:
            live = await D.discover(self.directory)
            self.error = None
        except D.DiscoveryError as exc:
            self.error = str(exc)
            return False
        ids = {e.id for e in live}
        for gone in [i for i in self.members if i not in ids]:
            m = self.members.pop(gone)
            if m.task is not None:
                m.task.cancel()
            self.depart(gone, row_of(m))
        for e in live:
            if e.id not in self.members:
                m = self.members[e.id] = Member(e)
                m.task = asyncio.get_running_loop().create_task(self._follow(m))
                self.arrive(e.id)
        return True

    async def _follow(self, m: Member) -> None:
        """A stats-only subscription; reconnects until the engine leaves the fleet."""
        while True:
            with contextlib.suppress(Exception):
                client = await ControlClient.connect(m.engine.socket, 1.0)
                try:
                    await client.subscribe(events=False, stats=True)
                    async for method, params in client.notifications():
                        if method == "stats" and isinstance(params, dict):
                            m.take(params)
                finally:
                    await client.close()
            await asyncio.sleep(0.5)


@dataclass(frozen=True)
class Outcome:
    """What a fleet write did: applied on ``applied`` of ``total``; the rest named."""

    applied: int
    total: int
    failures: tuple[str, ...] = ()  # "pid 4712: read_only"
    nothing: str | None = None  # why no engine was asked

    @property
    def ok(self) -> bool:
        return self.nothing is None and self.applied == self.total and not self.failures

    @property
    def text(self) -> str:
        if self.nothing is not None:
            return self.nothing
        return "; ".join([f"applied on {self.applied} of {self.total}", *self.failures])


SINGULAR = {"caches": "cache", "routers": "router", "memories": "memory", "providers": "provider"}
"""A primitive group's name for one of them ("no engine has cache 'llm'")."""


def targets_of(members: list[Any], kind: str, name: str) -> list[Any]:
    """The members whose latest stats have primitive ``name`` of ``kind``."""
    return [m for m in members if name in (m.stats.get(kind) or {})]


async def apply_everywhere(
    members: list[Member], method: str, params: dict[str, Any], kind: str, name: str
) -> Outcome:
    """Call ``method`` on every engine that has primitive ``name`` of ``kind``
    (``caches`` / ``routers`` / ``memories``): "applied on 2 of 3; pid 4712: read_only"."""
    targets = targets_of(members, kind, name)
    if not targets:
        what = SINGULAR.get(kind, kind)
        return Outcome(0, 0, nothing=f"no engine has {what} {name!r}")

    async def one(m: Member) -> str | None:
        try:
            client = await ControlClient.connect(m.engine.socket, 2.0)
        except Exception as exc:
            return f"pid {m.engine.pid}: {exc}"
        try:
            await client.hello("panel fleet view")  # the audit names the client and how
            await client.call(method, params, 5.0)
        except ControlError as exc:
            why = exc.code if exc.code == P.READ_ONLY else f"{exc.code} ({exc.message})"
            return f"pid {m.engine.pid}: {why}"
        except Exception as exc:
            return f"pid {m.engine.pid}: {type(exc).__name__} {exc}".rstrip()
        finally:
            await client.close()
        return None

    failures = tuple(f for f in await asyncio.gather(*(one(m) for m in targets)) if f)
    return Outcome(len(targets) - len(failures), len(targets), failures)
