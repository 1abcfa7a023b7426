"""The L1 entry of a Cache: the result, when it was stored, and what it saves per hit.

Two classes, not an optional field: most results cost nothing (a str from a local
function, a zero-cost completion), and leaving the cost out saves 8 B per entry; the hit
path tells them apart with one ``type(entry) is CostlyEntry``.
"""

from __future__ import annotations

from typing import Any

from flowdeck.engine.stores.lru import Entry

__all__ = ["CacheEntry", "CostlyEntry", "cache_entry"]


class CacheEntry(Entry):
    """A result (``value``) and the inner call's ``latency``, which a hit saves."""

    __slots__ = ("latency",)

    def __init__(self, stored_at: float, value: Any, latency: float) -> None:
        self.stored_at = stored_at
        self.value = value
        self.latency = latency


class CostlyEntry(CacheEntry):
    """A :class:`CacheEntry` whose result had a cost, which a hit saves too."""

    __slots__ = ("cost",)

    def __init__(self, stored_at: float, value: Any, latency: float, cost: float) -> None:
        self.stored_at = stored_at
        self.value = value
        self.latency = latency
        self.cost = cost


def cache_entry(stored_at: float, value: Any, latency: float, cost: float) -> CacheEntry:
    """The entry for a result: a :class:`CostlyEntry` only when ``cost`` is not zero."""
    if cost:
        return CostlyEntry(stored_at, value, latency, cost)
    return CacheEntry(stored_at, value, latency)
