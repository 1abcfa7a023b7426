"""Audit: one record per write, whether it came over the socket or from the fleet.

A record is a plain map: ``time``, ``engine`` (id, name, host, pid), ``actor`` (uid,
user, pid, host, client), ``scope`` (``socket`` | ``fleet``), ``method``, ``params``,
``before``, ``after`` and ``result`` (``applied`` / ``unchanged`` / ``not_found`` / ``read_only`` /
``error``, with ``detail``). An engine keeps its last :data:`KEEP` records (they are in
the snapshot, and each is also an ``audit`` event); with Redis each goes to the capped
stream ``<fleet>:audit`` too (XADD MAXLEN ~ :data:`STREAM_MAXLEN`), where the sender of
a fleet command adds one record with every engine's answer. Writing to Redis is best
effort and never delays the write itself; records Redis did not take are counted.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import msgpack
from redis.asyncio import Redis

from flowdeck.engine.fleet.packing import unpack_map
from flowdeck.engine.fleet.scope import Scope
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable
from flowdeck.engine.telemetry.events import EventBus, EventKind

KEEP = 1000
STREAM_MAXLEN = 10_000
SNAPSHOT_RECORDS = 200  # the newest ones in a snapshot (the frame stays well under 1 MiB)
MAX_FIELD = 2000  # characters of one params / before / after value, as stored


def bounded(value: Any) -> Any:
    """``value`` if its repr is short, else a truncated repr (records stay small)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else None
    if text is None:
        try:
            size = len(msgpack.packb(value, use_bin_type=True))
        except Exception:
            return repr(value)[:MAX_FIELD]
        return value if size <= MAX_FIELD else repr(value)[:MAX_FIELD]
    return text[:MAX_FIELD]


class AuditLog:
    """The recent audit records of one engine."""

    def __init__(self, bus: EventBus, engine: dict[str, Any], keep: int = KEEP) -> None:
        self._bus = bus
        self.engine = engine
        self.records: deque[dict[str, Any]] = deque(maxlen=keep)
        self.link: RedisLink | None = None
        self.scope: Scope | None = None
        self.total = 0
        self.unsent = 0  # records the fleet stream did not take (Redis down / failed)

    def record(
        self,
        *,
        actor: dict[str, Any],
        scope: str,
        method: str,
        params: dict[str, Any],
        before: Any,
        after: Any,
        result: str,
        detail: str | None = None,
        command: str | None = None,
    ) -> dict[str, Any]:
        rec = {
            "time": time.time(),
            "engine": self.engine,
            "actor": actor,
            "scope": scope,
            "method": method,
            "params": bounded(params),
            "before": bounded(before),
            "after": bounded(after),
            "result": result,
            "detail": None if detail is None else str(detail)[:500],
            "command": command,
        }
        self.records.append(rec)
        self.total += 1
        self._bus.emit3(EventKind.AUDIT, method, scope, result)
        link, where = self.link, self.scope
        if link is not None and where is not None:
            if link.up:
                link.spawn(self._push(link, where, rec))
            else:
                self.unsent += 1
        return rec

    async def _push(self, link: RedisLink, where: Scope, rec: dict[str, Any]) -> None:
        try:
            await link.run(lambda c: push(c, where, rec))
        except RedisUnavailable:
            self.unsent += 1

    def recent(self, count: int = SNAPSHOT_RECORDS) -> list[dict[str, Any]]:
        if count <= 0:
            return []
        return list(self.records)[-count:]

    def describe(self) -> dict[str, Any]:
        return {"total": self.total, "kept": len(self.records), "unsent": self.unsent}


async def push(client: Redis, where: Scope, rec: dict[str, Any]) -> None:
    """XADD one record to the fleet's capped audit stream."""
    blob = msgpack.packb(rec, use_bin_type=True, default=repr)
    await client.xadd(where.audit, {"r": blob}, maxlen=STREAM_MAXLEN, approximate=True)


async def read_stream(client: Redis, where: Scope, count: int = 100) -> list[dict[str, Any]]:
    """The newest ``count`` records of the fleet stream, oldest first (bounded)."""
    count = max(1, min(int(count), STREAM_MAXLEN))
    rows = await client.xrevrange(where.audit, count=count) or []
    out = []
    for _id, fields in reversed(list(rows)):
        rec = unpack_map(fields.get(b"r") if isinstance(fields, dict) else None)
        if rec is not None:
            out.append(rec)
    return out
