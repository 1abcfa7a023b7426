"""Read the fleet from Redis: every engine with a live heartbeat, on every host.

One refresh is two bounded calls: ZREVRANGE of ``<fleet>:engines`` (newest first, at
most ``limit`` ids) and one MGET of their heartbeat keys. An id whose key has expired
is gone; one whose last beat is older than :data:`STALE_INTERVALS` of its own interval
is ``stale`` (a stopped or partitioned engine). Rates come from counter deltas between
two beats of the same id (the reader's previous read, else the ``prev`` counters inside
the beat); a restarted engine is a new id, so a rate is never negative.

Every payload is validated and bounded: a foreign or oversized value is skipped and
counted in ``rejected``, never an exception. The panel imports this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # redis-py costs ~90 ms to import: `ls --redis` reads without it
    from redis.asyncio import Redis

from flowdeck.engine.fleet.packing import unpack_map
from flowdeck.engine.fleet.scope import DEFAULT_FLEET, Scope

STALE_INTERVALS = 2.5  # a beat older than this many intervals is stale
MAX_ENGINES = 1000
MAX_PAYLOAD = 1 << 20  # bytes of one heartbeat


@dataclass
class FleetEngine:
    """One engine as its heartbeat describes it."""

    id: str
    name: str
    host: str
    pid: int
    started_at: float
    version: str
    read_only: bool
    socket: str | None
    seen: float  # Unix time of the beat
    age: float  # seconds since the beat, at the read
    interval: float
    stale: bool
    stats: dict[str, Any] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)  # per second: runs, errors, hits, misses
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        c = self.stats.get("_counters") or {}
        total = c.get("hits", 0) + c.get("misses", 0)
        return c.get("hits", 0) / total if total else 0.0

    @property
    def label(self) -> str:
        """How a person names this engine in a report: ``host pid 812``."""
        return f"{self.host} pid {self.pid}"

    def row(self) -> dict[str, Any]:
        """A JSON-ready summary (``ls --redis --json``)."""
        return {
            "id": self.id,
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "socket": self.socket,
            "version": self.version,
            "read_only": self.read_only,
            "uptime": max(0.0, self.seen - self.started_at),
            "age": round(self.age, 3),
            "stale": self.stale,
            "req_s": round(self.rates.get("runs", 0.0), 3),
            "hit_rate": round(self.hit_rate, 4),
            "errors": int((self.stats.get("_counters") or {}).get("errors", 0)),
        }


def rate(now: dict[str, Any], before: dict[str, Any] | None) -> dict[str, float]:
    """Per-second deltas of the counters in ``now`` since ``before`` (both carry ``time``).
    Empty when there is no earlier beat; a counter that went down counts as 0."""
    if not before:
        return {}
    try:
        dt = float(now["time"]) - float(before["time"])
    except (KeyError, TypeError, ValueError):
        return {}
    if dt <= 0:
        return {}
    out: dict[str, float] = {}
    for k, v in now.items():
        if k == "time" or not isinstance(v, int | float):
            continue
        b = before.get(k)
        if isinstance(b, int | float):
            out[k] = max(0.0, (v - b) / dt)
    return out


def decode_beat(engine_id: str, blob: Any, now: float) -> FleetEngine | None:
    """A heartbeat payload as a :class:`FleetEngine`, or None if it is not one of ours."""
    body = unpack_map(blob, MAX_PAYLOAD)
    if body is None:
        return None
    ident, stats = body.get("identity"), body.get("stats")
    seen, interval = body.get("time"), body.get("interval")
    if not isinstance(ident, dict) or not isinstance(stats, dict):
        return None
    if not isinstance(seen, int | float) or not isinstance(interval, int | float) or interval <= 0:
        return None
    if ident.get("id") != engine_id:
        return None
    raw_count, raw_prev = body.get("counters"), body.get("prev")
    count: dict[str, Any] = raw_count if isinstance(raw_count, dict) else {}
    prev: dict[str, Any] | None = raw_prev if isinstance(raw_prev, dict) else None
    pid = ident.get("pid")
    age = max(0.0, now - seen)
    stats = {**stats, "_counters": {**count, "time": seen}}
    return FleetEngine(
        id=engine_id,
        name=str(ident.get("name", "?"))[:64],
        host=str(ident.get("host", "?"))[:255],
        pid=pid if isinstance(pid, int) else 0,
        started_at=_num(ident.get("started_at", ident.get("started"))),
        version=str(ident.get("version", "?"))[:32],
        read_only=bool(ident.get("read_only")),
        socket=ident.get("socket") if isinstance(ident.get("socket"), str) else None,
        seen=float(seen),
        age=age,
        interval=float(interval),
        stale=age > interval * STALE_INTERVALS,
        stats=stats,
        rates=rate({**count, "time": seen}, prev),
        identity=ident,
    )


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


class FleetReader:
    """Reads one fleet (name + Redis database) of a Redis server.

    ``read()`` is the whole refresh; it keeps the previous beat of each id so that
    successive reads give rates over the reader's own refresh period.
    """

    def __init__(self, client: Redis | None, fleet: str = DEFAULT_FLEET, *, db: int = 0) -> None:
        self._redis = client  # None: a reader for read_with() only
        self.scope = Scope(fleet, db)
        self.rejected = 0
        self._last: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_url(cls, url: str, fleet: str = DEFAULT_FLEET, *, timeout: float = 1.0) -> FleetReader:
        from redis.asyncio import Redis

        scope = Scope.of(fleet, url)
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, scope.fleet, db=scope.db)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    @property
    def client(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("this FleetReader has no Redis client (use read_with)")
        return self._redis

    async def ids(self, limit: int = MAX_ENGINES) -> list[str]:
        raw = await self.client.zrevrange(self.scope.engines, 0, max(0, limit - 1))
        return decode_ids(raw)

    async def read(self, limit: int = MAX_ENGINES) -> list[FleetEngine]:
        """Every engine with a live heartbeat, newest beat first."""
        ids = await self.ids(limit)
        if not ids:
            return []
        blobs = await self.client.mget([self.scope.heartbeat(i) for i in ids])
        return self.collect(ids, blobs)

    def read_with(self, call: Callable[..., Any], limit: int = MAX_ENGINES) -> list[FleetEngine]:
        """:meth:`read` through a blocking ``call(*command)`` (``ls --redis`` uses the
        small :mod:`~flowdeck.engine.fleet.resp` client: no redis-py to import)."""
        ids = decode_ids(call("ZREVRANGE", self.scope.engines, "0", str(max(0, limit - 1))))
        if not ids:
            return []
        return self.collect(ids, call("MGET", *(self.scope.heartbeat(i) for i in ids)))

    def collect(self, ids: list[str], blobs: list[Any]) -> list[FleetEngine]:
        """The engines of one read: ``ids`` (newest first) and their heartbeat values."""
        now = time.time()
        out: list[FleetEngine] = []
        last: dict[str, dict[str, Any]] = {}
        for eid, blob in zip(ids, blobs, strict=True):
            if blob is None:
                continue  # expired: the engine has gone
            eng = decode_beat(eid, blob, now)
            if eng is None:
                self.rejected += 1
                continue
            mine = eng.stats["_counters"]
            before = self._last.get(eid)
            if before is not None and before.get("time") != mine.get("time"):
                eng.rates = rate(mine, before)
            elif before is not None:
                eng.rates = before.get("_rates", eng.rates)
            last[eid] = {**mine, "_rates": eng.rates}
            out.append(eng)
        self._last = last
        return out


def decode_ids(raw: Any) -> list[str]:
    """The engine ids of a ZREVRANGE reply."""
    if not isinstance(raw, list):
        return []
    return [i.decode(errors="replace") if isinstance(i, bytes) else str(i) for i in raw]


def totals(engines: list[FleetEngine]) -> dict[str, Any]:
    """Per cache and per router name, summed over engines (stale ones included)."""
    caches: dict[str, dict[str, float]] = {}
    routers: dict[str, dict[str, int]] = {}
    for eng in engines:
        for name, c in (eng.stats.get("caches") or {}).items():
            if not isinstance(c, dict):
                continue
            t = caches.setdefault(name, {"hits": 0, "misses": 0, "size": 0, "engines": 0})
            t["hits"] += c.get("hits", 0)
            t["misses"] += c.get("misses", 0) + c.get("coalesced", 0)
            t["size"] += c.get("size", 0)
            t["engines"] += 1
        for name, r in (eng.stats.get("routers") or {}).items():
            routes = r.get("routes") if isinstance(r, dict) else None
            if not isinstance(routes, dict):
                continue
            t2 = routers.setdefault(name, {})
            for route, rs in routes.items():
                if isinstance(rs, dict):
                    t2[route] = t2.get(route, 0) + int(rs.get("count", 0))
    for t in caches.values():
        total = t["hits"] + t["misses"]
        t["hit_rate"] = t["hits"] / total if total else 0.0
    return {"caches": caches, "routers": routers}
