"""The event ring.

Emitting an event is the hot path of the whole engine, so it is one tuple and one list
store: no dict, no queue, no await. Events are positional tuples
``(seq, monotonic_ts, kind, *fields)``; the fields of each kind are listed in
``docs/protocol.md`` and in :class:`EventKind`. Readers (one writer task per socket
client) keep their own cursor and call :meth:`EventBus.read_since`; a reader that fell
further behind than the ring holds is told how many events it lost.
"""

from __future__ import annotations

import time
from typing import Any

_monotonic = time.monotonic

Event = tuple[Any, ...]


class EventKind:
    """Event kind names and their positional fields (after seq, ts, kind)."""

    CACHE_HIT = "cache.hit"  # name, layer ("l1" | "l2"), key (short hex)
    CACHE_MISS = "cache.miss"  # name, key, coalesced (bool: waited on an in-flight call)
    CACHE_SET = "cache.set"  # name, key, layers ("l1" | "l1+l2")
    CACHE_EVICT = "cache.evict"  # name, reason ("lru" | "ttl" | "resize"), count
    CACHE_FLUSH = "cache.flush"  # name, l1_count, l2_count
    CACHE_CONFIG = "cache.config"  # name, ttl, max_size
    CACHE_L2_ERROR = "cache.l2_error"  # name, error
    ROUTE = "route"  # name, route, reason ("select" | "pin" | "default" | "unknown"), latency_s
    ROUTE_ERROR = "route.error"  # name, route, error
    ROUTER_CONFIG = "router.config"  # name, pin, route, providers (list)
    PARALLEL_RUN = "parallel.run"  # name, run_id, wall_s, status, branch_count
    PARALLEL_BRANCH = "parallel.branch"  # name, run_id, branch, start_s, end_s, status
    PROVIDER_CALL = "provider.call"  # provider, model, latency_s, tokens_in, tokens_out, cost
    PROVIDER_RETRY = "provider.retry"  # provider, attempt, reason, delay_s
    PROVIDER_ERROR = "provider.error"  # provider, error
    PROVIDER_FALLBACK = "provider.fallback"  # tier, from_provider, to_provider, reason
    PROVIDER_COOLDOWN = "provider.cooldown"  # provider, seconds
    MEMORY_ADD = "memory.add"  # name, key
    MEMORY_SEARCH = "memory.search"  # name, keyword_count, result_count, latency_s
    MEMORY_CLEAR = "memory.clear"  # name, count
    REDIS = "redis"  # state ("up" | "down"), error

    ALL = (
        CACHE_HIT,
        CACHE_MISS,
        CACHE_SET,
        CACHE_EVICT,
        CACHE_FLUSH,
        CACHE_CONFIG,
        CACHE_L2_ERROR,
        ROUTE,
        ROUTE_ERROR,
        ROUTER_CONFIG,
        PARALLEL_RUN,
        PARALLEL_BRANCH,
        PROVIDER_CALL,
        PROVIDER_RETRY,
        PROVIDER_ERROR,
        PROVIDER_FALLBACK,
        PROVIDER_COOLDOWN,
        MEMORY_ADD,
        MEMORY_SEARCH,
        MEMORY_CLEAR,
        REDIS,
    )


class EventBus:
    """A bounded ring of events with a global sequence number.

    ``capacity`` is rounded up to a power of two so the slot is ``seq & mask``.
    Producers never wait: the oldest events are overwritten.
    """

    __slots__ = ("_buf", "_mask", "capacity", "seq")

    def __init__(self, capacity: int = 1 << 17) -> None:
        size = 1
        while size < max(capacity, 2):
            size <<= 1
        self.capacity = size
        self._mask = size - 1
        self._buf: list[Event | None] = [None] * size
        self.seq = 0

    # One method per arity: `*fields` would cost a second tuple per event.
    def emit1(self, kind: str, a: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a)

    def emit2(self, kind: str, a: Any, b: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b)

    def emit3(self, kind: str, a: Any, b: Any, c: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c)

    def emit4(self, kind: str, a: Any, b: Any, c: Any, d: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c, d)

    def emit5(self, kind: str, a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c, d, e)

    def emit6(self, kind: str, a: Any, b: Any, c: Any, d: Any, e: Any, f: Any) -> None:
        seq = self.seq + 1
        self.seq = seq
        self._buf[seq & self._mask] = (seq, _monotonic(), kind, a, b, c, d, e, f)

    @property
    def oldest(self) -> int:
        """Sequence number of the oldest event still in the ring (seq+1 if empty)."""
        return max(1, self.seq - self.capacity + 1)

    def read_since(self, cursor: int, limit: int = 1 << 30) -> tuple[list[Event], int, int]:
        """Events with seq > cursor, at most ``limit`` of them.

        Returns ``(events, dropped, new_cursor)``; ``dropped`` counts events the reader
        missed because the ring overwrote them.
        """
        seq = self.seq
        if cursor >= seq:
            return [], 0, cursor
        start = cursor + 1
        oldest = self.oldest
        dropped = 0
        if start < oldest:
            dropped = oldest - start
            start = oldest
        end = min(seq, start + limit - 1)
        mask = self._mask
        i, j = start & mask, end & mask
        buf = self._buf
        events = buf[i : j + 1] if i <= j else buf[i:] + buf[: j + 1]
        return events, dropped, end  # type: ignore[return-value]

    def recent(self, count: int) -> list[Event]:
        """The last ``count`` events (for snapshots)."""
        events, _, _ = self.read_since(max(0, self.seq - count))
        return events


class NullBus(EventBus):
    """A bus for primitives used outside an engine: keeps a tiny ring, costs the same."""

    def __init__(self) -> None:
        super().__init__(capacity=64)


NULL_BUS = NullBus()
