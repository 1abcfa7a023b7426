"""One cache's entries in Redis: key prefix, read, write, flush and re-time.

Why its own module: how a cache lays out its keys and records in Redis (a prefix per
cache name, the codec's record header, SCAN + UNLINK for a flush, the re-timing Lua
script) is storage, not caching policy. The Cache decides *when* to touch L2 and what
a failure means (counted, never raised to its caller); this module only does it.

Keys are ``flowdeck:cache:<name>:<digest>``, so caches never see each other's entries
and a flush deletes exactly one cache's keys. Every call may raise
:class:`~flowdeck.engine.stores.redis_link.RedisUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowdeck.engine.stores import codec
from flowdeck.engine.stores.redis_link import RedisLink, glob_escape, scan_unlink

SCAN_BATCH = 500
L2_MAX_BYTES = 1024 * 1024
"""Default cap on one encoded record in Redis: a value over it stays in L1 only."""
MIN_L2_BYTES = 1024
MAX_L2_BYTES = 512 * 1024 * 1024  # Redis's own limit for one string


class TooLarge(ValueError):
    """A record over the cache's ``l2_max_bytes``: not written (no I/O was done)."""


def check_l2_max_bytes(value: object) -> int:
    """``l2_max_bytes`` as a whole number of bytes within the bounds, or ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"l2_max_bytes must be a whole number of bytes, got {value!r}")
    if not MIN_L2_BYTES <= value <= MAX_L2_BYTES:
        raise ValueError(
            f"l2_max_bytes must be from {MIN_L2_BYTES} to {MAX_L2_BYTES} bytes, got {value}"
        )
    return value


class CacheL2:
    """The Redis side of the cache named ``name``."""

    __slots__ = ("pattern", "prefix")

    def __init__(self, name: str, prefix: str | None = None) -> None:
        self.prefix = f"flowdeck:cache:{name}:" if prefix is None else prefix
        self.pattern = glob_escape(self.prefix) + "*"  # matches this cache's keys only

    async def get(self, link: RedisLink, key: str) -> tuple[Any, float, float, float] | None:
        """``(value, stored_at, latency, cost)`` or None if absent.

        Raises ValueError for a record that is not ours or is corrupt (the caller
        treats it as a miss; it is not deleted here: the fill that follows overwrites
        it, and a delete racing that write could remove the fresh record instead).
        """
        raw = await link.get(self.prefix + key)
        if raw is None:
            return None
        return codec.unpack_record(raw)

    async def set(
        self,
        link: RedisLink,
        key: str,
        value: Any,
        stored_at: float,
        latency: float,
        cost: float,
        ttl: float,
        max_bytes: int = L2_MAX_BYTES,
    ) -> None:
        """Store a record that Redis expires after ``ttl`` seconds.

        Raises TypeError / ValueError / OverflowError (before any I/O) for a value the
        codec cannot encode, and :class:`TooLarge` for a record over ``max_bytes``.
        """
        raw = codec.pack_record(value, stored_at, latency, cost)
        if len(raw) > max_bytes:
            raise TooLarge(f"record of {len(raw)} bytes is over l2_max_bytes {max_bytes}")
        rkey = self.prefix + key
        px = max(1, int(ttl * 1000))
        await link.run(lambda c: c.set(rkey, raw, px=px))

    async def flush(self, link: RedisLink) -> int:
        """Delete every key of this cache (SCAN + UNLINK, never KEYS); returns how many."""
        pattern = self.pattern
        return await link.run(lambda c: scan_unlink(c, pattern, batch=SCAN_BATCH))

    async def retime(self, link: RedisLink, ttl: float, now: Callable[[], float]) -> None:
        """Give every key the expiry its store time implies under ``ttl``.

        Read-and-act is one Lua script per SCAN batch (:data:`codec.RETIME_LUA`), so a
        record re-stored meanwhile is judged by its own (new) store time, never
        deleted for its predecessor's age.
        """
        pattern = self.pattern

        async def retime(client: Any) -> None:
            cursor = 0
            while True:
                cursor, keys = await client.scan(cursor=cursor, match=pattern, count=SCAN_BATCH)
                if keys:
                    await client.eval(codec.RETIME_LUA, len(keys), *keys, repr(ttl), repr(now()))
                if cursor == 0:
                    return

        await link.run(retime)
