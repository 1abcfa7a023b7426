"""An O(1) LRU store with one TTL for all entries, each expiring at its own time.

Why not ``cachetools.TTLCache``: it needs a lock in async code, cannot change the TTL of
entries already stored, and does not count evictions by reason. This store is a plain
object used from one event loop (no lock needed): every operation is a couple of
C-level ``OrderedDict`` calls.

Each entry remembers when it was stored; it expires at ``stored_at + ttl`` where ``ttl``
is the store's *current* TTL. So :meth:`LRUTTLStore.set_ttl` applies to entries already
stored without touching them: a shorter TTL makes old entries expire at once.

Memory: one ``OrderedDict`` in recency order and one :class:`Entry` per key, a slotted
object with its store time and value (56 B with a third field, 8 B less than the tuple
it replaced; :meth:`put` / :meth:`get_entry` take and give the entry, so a caller with
more fields per entry subclasses it instead of nesting a second object; :meth:`set` /
:meth:`get` wrap a single value).

Expiry is lazy (checked on ``get``) plus a bounded incremental sweep of the least
recently used entries on every ``set`` and on :meth:`sweep` (an expired entry that was
used recently waits for its next ``get`` or for reaching the old end); only a shorter
TTL (:meth:`set_ttl`, an operator action) scans all entries once. Memory is bounded by
``max_size`` at all times: an insert beyond it evicts the least recently used entry
before returning.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from flowdeck.engine.errors import BadParams

LRU, TTL, RESIZE = "lru", "ttl", "resize"

_MISSING: Any = object()

EvictHook = Callable[[str, int], None]


class Entry:
    """One stored value and its store time (this store's clock).

    Slotted, not a tuple: with one more field (a subclass's ``__slots__``) it is 56 B
    where the 3-tuple was 64, and a field read is as fast as an index. Unlike a tuple of
    atoms the collector keeps tracking it, which costs a full collection a visit per
    entry; entries are long-lived, so that is rare.
    """

    __slots__ = ("stored_at", "value")

    def __init__(self, stored_at: float, value: Any) -> None:
        self.stored_at = stored_at
        self.value = value


E = TypeVar("E", bound=Entry)


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


class LRUTTLStore(Generic[E]):
    """A bounded mapping: least-recently-used eviction plus expiry after ``ttl`` seconds.

    ``clock`` is injectable (monotonic seconds) so tests can move time instead of
    sleeping. ``on_evict(reason, count)`` is called after evictions (reasons: ``"lru"``,
    ``"ttl"``, ``"resize"``); ``evictions`` holds the running counts.
    """

    __slots__ = ("_clock", "_data", "_ttl", "evictions", "max_size", "on_evict")

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
        # key -> entry, in recency order (most recently used last).
        self._data: OrderedDict[Hashable, E] = OrderedDict()
        self.evictions: dict[str, int] = {LRU: 0, TTL: 0, RESIZE: 0}
        self.on_evict = on_evict

    # ---- hot path ---------------------------------------------------------------------
    def get_entry(self, key: Hashable) -> E | None:
        """The whole entry, marking it most recently used; None if absent or expired."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.stored_at <= self._clock() - self._ttl:
            del self._data[key]
            self._count(TTL, 1)
            return None
        self._data.move_to_end(key)
        return entry

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value, marking it most recently used; ``default`` if absent or expired."""
        entry = self.get_entry(key)
        return default if entry is None else entry.value

    def set(
        self: LRUTTLStore[Entry], key: Hashable, value: Any, stored_at: float | None = None
    ) -> None:
        """Store ``value``; ``stored_at`` (this store's clock) keeps an older entry's age."""
        now = self._clock()
        if stored_at is None or stored_at > now:
            stored_at = now
        self.put(key, Entry(stored_at, value), now)

    def put(self, key: Hashable, entry: E, now: float | None = None) -> None:
        """Store ``entry``, whose ``stored_at`` is this store's clock, not later than now.

        Evicts the least recently used entry if the store is full, and sweeps a couple
        of the least recently used entries if they have expired.
        """
        if now is None:
            now = self._clock()
        data = self._data
        if key in data:
            data.move_to_end(key)
        data[key] = entry
        if len(data) > self.max_size:
            data.popitem(last=False)
            self._count(LRU, 1)
        self._sweep(now - self._ttl, 2)

    # ---- the rest ---------------------------------------------------------------------
    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value without touching recency (still honours expiry, without removing)."""
        entry = self._data.get(key)
        if entry is None or entry.stored_at <= self._clock() - self._ttl:
            return default
        return entry.value

    def stored_at(self, key: Hashable) -> float | None:
        """When ``key`` was stored (this store's clock), or None."""
        entry = self._data.get(key)
        return None if entry is None else entry.stored_at

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was there (not counted as an eviction)."""
        if key not in self._data:
            return False
        del self._data[key]
        return True

    def clear(self) -> int:
        """Remove everything (not counted as evictions); returns how many were stored."""
        n = len(self._data)
        self._data.clear()
        return n

    @property
    def ttl(self) -> float:
        return self._ttl

    def set_ttl(self, ttl: float) -> int:
        """Change the TTL of every entry, stored or future; returns how many expired now.

        An entry keeps its store time, so its new expiry is ``stored_at + ttl``.
        """
        ttl = check_ttl(ttl, allow_inf=True)
        shorter = ttl < self._ttl
        self._ttl = ttl
        cutoff = self._clock() - self._ttl
        if not shorter:
            return self._sweep(cutoff, None)
        # Recency order is not store order: find every entry the shorter TTL expires.
        data = self._data
        stale = [k for k, e in data.items() if e.stored_at <= cutoff]
        for k in stale:
            del data[k]
        if stale:
            self._count(TTL, len(stale))
        return len(stale)

    def resize(self, max_size: int) -> int:
        """Change the capacity, evicting least recently used entries down to it at once."""
        self.max_size = check_size(max_size)
        data = self._data
        n = len(data) - self.max_size
        for _ in range(max(n, 0)):
            data.popitem(last=False)
        if n > 0:
            self._count(RESIZE, n)
            return n
        return 0

    def sweep(self, limit: int | None = 256) -> int:
        """Remove up to ``limit`` expired entries from the least recently used end
        (stopping at the first live one); returns how many."""
        return self._sweep(self._clock() - self._ttl, limit)

    def expired_at_head(self, limit: int = 1024) -> int:
        """How many of the least recently used entries have expired (at most ``limit``),
        without removing or counting them: for reports that must not change what they
        report."""
        cutoff = self._clock() - self._ttl
        n = 0
        for entry in self._data.values():
            if n >= limit or entry.stored_at > cutoff:
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
    def _sweep(self, cutoff: float, limit: int | None) -> int:
        """Drop expired entries from the least recently used end.

        Stops at the first live entry (an expired entry behind it is expired by ``get``
        on time, or swept once it reaches the end; memory stays bounded by max_size).
        """
        data = self._data
        n = 0
        while data and (limit is None or n < limit):
            key, entry = next(iter(data.items()))
            if entry.stored_at > cutoff:
                break
            del data[key]
            n += 1
        if n:
            self._count(TTL, n)
        return n

    def _count(self, reason: str, n: int) -> None:
        self.evictions[reason] += n
        hook = self.on_evict
        if hook is not None:
            hook(reason, n)
