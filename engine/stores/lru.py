"""An O(1) LRU store with one TTL for all entries, each expiring at its own time.

Why not ``cachetools.TTLCache``: it needs a lock in async code, cannot change the TTL of
entries already stored, and does not count evictions by reason. This store is a plain
object used from one event loop (no lock needed): every operation is a couple of
C-level ``OrderedDict`` calls.

Each entry remembers when it was stored; it expires at ``stored_at + ttl`` where ``ttl``
is the store's *current* TTL. So :meth:`LRUTTLStore.set_ttl` applies to entries already
stored without touching them: a shorter TTL makes old entries expire at once.

Expiry is lazy (checked on ``get``) plus a bounded incremental sweep of the oldest
entries on every ``set`` and on :meth:`sweep`; there is never a scan of all entries.
Memory is bounded by ``max_size`` at all times: an insert beyond it evicts the least
recently used entry before returning.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any

from flowdeck.engine.errors import BadParams

LRU, TTL, RESIZE = "lru", "ttl", "resize"

_MISSING: Any = object()

EvictHook = Callable[[str, int], None]


def check_ttl(ttl: Any, *, allow_inf: bool = False) -> float:
    """A TTL in seconds: a positive (finite, unless ``allow_inf``) number."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise BadParams(f"ttl must be a number of seconds, got {ttl!r}")
    ttl = float(ttl)
    if math.isnan(ttl) or ttl <= 0 or (math.isinf(ttl) and not allow_inf):
        raise BadParams(f"ttl must be a positive finite number of seconds, got {ttl!r}")
    return ttl


def check_size(size: Any) -> int:
    """A capacity: a positive integer (bools are rejected, they are ints by accident)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise BadParams(f"max_size must be a positive integer, got {size!r}")
    return size


class LRUTTLStore:
    """A bounded mapping: least-recently-used eviction plus expiry after ``ttl`` seconds.

    ``clock`` is injectable (monotonic seconds) so tests can move time instead of
    sleeping. ``on_evict(reason, count)`` is called after evictions (reasons: ``"lru"``,
    ``"ttl"``, ``"resize"``); ``evictions`` holds the running counts.
    """

    __slots__ = ("_age", "_clock", "_data", "_ttl", "evictions", "max_size", "on_evict")

    def __init__(
        self,
        max_size: int,
        ttl: float = math.inf,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_evict: EvictHook | None = None,
    ) -> None:
        self.max_size = check_size(max_size)
        self._ttl = check_ttl(ttl, allow_inf=True)
        self._clock = clock
        # key -> (stored_at, value), in recency order (most recently used last).
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        # The same keys in store order (oldest first): what the expiry sweep walks.
        self._age: OrderedDict[Hashable, None] = OrderedDict()
        self.evictions: dict[str, int] = {LRU: 0, TTL: 0, RESIZE: 0}
        self.on_evict = on_evict

    # ---- hot path ---------------------------------------------------------------------
    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value, marking it most recently used; ``default`` if absent or expired."""
        entry = self._data.get(key)
        if entry is None:
            return default
        if entry[0] <= self._clock() - self._ttl:
            self._remove(key)
            self._count(TTL, 1)
            return default
        self._data.move_to_end(key)
        return entry[1]

    def set(self, key: Hashable, value: Any, stored_at: float | None = None) -> None:
        """Store ``value``; ``stored_at`` (this store's clock) keeps an older entry's age.

        Evicts the least recently used entry if the store is full, and sweeps a couple
        of the oldest entries if they have expired.
        """
        now = self._clock()
        if stored_at is None or stored_at > now:
            stored_at = now
        data = self._data
        if key in data:
            data.move_to_end(key)
            self._age.move_to_end(key)
        else:
            self._age[key] = None
        data[key] = (stored_at, value)
        if len(data) > self.max_size:
            old, _ = data.popitem(last=False)
            del self._age[old]
            self._count(LRU, 1)
        self._sweep(now - self._ttl, 2)

    # ---- the rest ---------------------------------------------------------------------
    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value without touching recency (still honours expiry, without removing)."""
        entry = self._data.get(key)
        if entry is None or entry[0] <= self._clock() - self._ttl:
            return default
        return entry[1]

    def stored_at(self, key: Hashable) -> float | None:
        """When ``key`` was stored (this store's clock), or None."""
        entry = self._data.get(key)
        return None if entry is None else entry[0]

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was there (not counted as an eviction)."""
        if key not in self._data:
            return False
        self._remove(key)
        return True

    def clear(self) -> int:
        """Remove everything (not counted as evictions); returns how many were stored."""
        n = len(self._data)
        self._data.clear()
        self._age.clear()
        return n

    @property
    def ttl(self) -> float:
        return self._ttl

    def set_ttl(self, ttl: float) -> int:
        """Change the TTL of every entry, stored or future; returns how many expired now.

        An entry keeps its store time, so its new expiry is ``stored_at + ttl``.
        """
        self._ttl = check_ttl(ttl, allow_inf=True)
        return self._sweep(self._clock() - self._ttl, None)

    def resize(self, max_size: int) -> int:
        """Change the capacity, evicting least recently used entries down to it at once."""
        self.max_size = check_size(max_size)
        data, age = self._data, self._age
        n = len(data) - self.max_size
        for _ in range(max(n, 0)):
            old, _ = data.popitem(last=False)
            del age[old]
        if n > 0:
            self._count(RESIZE, n)
            return n
        return 0

    def sweep(self, limit: int | None = 256) -> int:
        """Remove up to ``limit`` expired entries, oldest first; returns how many."""
        return self._sweep(self._clock() - self._ttl, limit)

    def expired_at_head(self, limit: int = 1024) -> int:
        """How many of the oldest entries have expired (at most ``limit``), without
        removing or counting them: for reports that must not change what they report."""
        data, cutoff = self._data, self._clock() - self._ttl
        n = 0
        for key in self._age:
            if n >= limit or data[key][0] > cutoff:
                break
            n += 1
        return n

    def __len__(self) -> int:
        """Stored entries (may include a few expired ones not yet swept)."""
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return self.peek(key, _MISSING) is not _MISSING

    def keys(self) -> Iterator[Hashable]:
        """Keys from least to most recently used (a snapshot: safe to mutate while iterating)."""
        return iter(list(self._data))

    # ---- internals --------------------------------------------------------------------
    def _remove(self, key: Hashable) -> None:
        del self._data[key]
        del self._age[key]

    def _sweep(self, cutoff: float, limit: int | None) -> int:
        """Drop expired entries from the old end of the store order.

        Stops at the first live entry: entries are stored in time order, so the rest are
        younger (an entry filled from L2 with an older store time may sit behind a
        younger one; ``get`` still expires it on time).
        """
        data, age = self._data, self._age
        n = 0
        while age and (limit is None or n < limit):
            key = next(iter(age))
            if data[key][0] > cutoff:
                break
            del data[key]
            del age[key]
            n += 1
        if n:
            self._count(TTL, n)
        return n

    def _count(self, reason: str, n: int) -> None:
        self.evictions[reason] += n
        hook = self.on_evict
        if hook is not None:
            hook(reason, n)
