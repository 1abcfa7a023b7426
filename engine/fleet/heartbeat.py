"""Heartbeats: each engine writes its identity and cumulative counters to Redis.

Every ``fleet_interval`` seconds one pipelined round trip: SET the engine's key
(``<fleet>:hb:<id>``, msgpack, expiring after :data:`EXPIRE_INTERVALS` intervals or
:data:`EXPIRE_MIN` seconds, whichever is longer),
ZADD its id to ``<fleet>:engines`` scored by the time, and trim members not seen for
:data:`PRUNE_AFTER` seconds. The fleet is whatever has a live key; readers
(:mod:`engine.fleet.reader`) need one ZRANGE and one MGET, never a SCAN.

Counters are cumulative (the same shapes as ``stats``), so a reader derives rates from
two beats and a lost beat loses no count. The previous beat's counters travel in the
payload too (``prev``), so a one-shot reader (``ls --redis``) has a rate at once.
While Redis is down the loop skips beats (counted in ``skipped``) and carries on by
itself when the link is back; leaving (engine close) deletes the key and the member.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgpack

from flowdeck.engine.fleet.scope import Scope
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable

FIRST_BEAT_WAIT = 5.0  # seconds; after it, beat anyway (the listener retries on its own)
EXPIRE_INTERVALS = 5  # a heartbeat key outlives this many missed beats...
EXPIRE_MIN = 5.0  # ...and at least this many seconds (a stopped engine shows as stale first)
PRUNE_AFTER = 120.0  # seconds: ids older than this leave the sorted set
PAYLOAD_VERSION = 1


def counters(stats: dict[str, Any]) -> dict[str, float]:
    """The cumulative counters rates are derived from (requests, errors, cache hits and
    misses), out of a ``stats()`` map."""
    work = stats.get("workload") or {}
    hits = misses = 0.0
    for c in (stats.get("caches") or {}).values():
        hits += c.get("hits", 0)
        misses += c.get("misses", 0) + c.get("coalesced", 0)
    return {
        "runs": float(work.get("runs", 0)),
        "errors": float(work.get("errors", 0)),
        "hits": hits,
        "misses": misses,
    }


class Heartbeat:
    """The beat loop of one engine (a task owned by the engine's RedisLink)."""

    def __init__(self, engine: Any, link: RedisLink, scope: Scope, interval: float) -> None:
        self.engine = engine
        self.link = link
        self.scope = scope
        self.interval = interval
        self.sent = 0
        self.skipped = 0  # beats not sent: Redis down or the write failed
        self._prev: dict[str, float] | None = None
        self._task: asyncio.Task[Any] | None = None
        self._stopped = False

    @property
    def ttl_ms(self) -> int:
        return int(max(EXPIRE_MIN, self.interval * EXPIRE_INTERVALS) * 1000)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.link.spawn(self._loop())

    async def _loop(self) -> None:
        # An engine joins the fleet list only once it hears fleet commands: a sender
        # that reads the list right after the first beat must reach every engine on it.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.link.subscribed.wait(), FIRST_BEAT_WAIT)
        while not self._stopped:
            if self.link.up:
                try:
                    await self.beat()
                except RedisUnavailable:
                    self.skipped += 1
            else:
                self.skipped += 1
            await asyncio.sleep(self.interval)

    def payload(self, now: float) -> bytes:
        stats = self.engine.stats()
        count = counters(stats)
        body = {
            "v": PAYLOAD_VERSION,
            "time": now,
            "interval": self.interval,
            "identity": self.engine.identity(),
            "stats": stats,
            "counters": count,
            "prev": self._prev,
        }
        self._prev = {**count, "time": now}
        packed: bytes = msgpack.packb(body, use_bin_type=True, default=repr)
        return packed

    async def beat(self) -> None:
        """Send one heartbeat now (raises :class:`RedisUnavailable`)."""
        now = time.time()
        blob = self.payload(now)
        key = self.scope.heartbeat(self.engine.id)
        members = self.scope.engines
        eid = self.engine.id
        ttl = self.ttl_ms

        async def send(client: Any) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.set(key, blob, px=ttl)
            pipe.zadd(members, {eid: now})
            pipe.zremrangebyscore(members, "-inf", now - PRUNE_AFTER)
            await pipe.execute()

        await self.link.run(send)
        self.sent += 1

    async def leave(self) -> None:
        """Stop beating and remove this engine from the fleet (best effort)."""
        self._stopped = True  # a cancel can be swallowed inside redis-py: the flag is not
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, 2.0)
        if not self.link.up:
            return
        key = self.scope.heartbeat(self.engine.id)

        async def remove(client: Any) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.delete(key)
            pipe.zrem(self.scope.engines, self.engine.id)
            await pipe.execute()

        with contextlib.suppress(RedisUnavailable, asyncio.TimeoutError):
            await asyncio.wait_for(self.link.run(remove), 1.0)

    def describe(self) -> dict[str, Any]:
        return {"interval": self.interval, "sent": self.sent, "skipped": self.skipped}
