"""LRUTTLStore: recency order, expiry on an injected clock, evictions by reason."""

from __future__ import annotations

import math

import pytest

from flowdeck.engine.stores.lru import Entry, LRUTTLStore


class Clock:
    """A clock the test moves by hand: expiry without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(
    max_size: int = 3, ttl: float = 10.0
) -> tuple[LRUTTLStore[Entry], Clock, list[tuple[str, int]]]:
    clock = Clock()
    seen: list[tuple[str, int]] = []
    store: LRUTTLStore[Entry] = LRUTTLStore(
        max_size, ttl, clock=clock, on_evict=lambda r, n: seen.append((r, n))
    )
    return store, clock, seen


def test_get_set_delete_and_missing_default() -> None:
    store, _, _ = make()
    store.set("a", 1)
    assert store.get("a") == 1
    assert store.get("zz") is None
    assert store.get("zz", "dflt") == "dflt"
    assert store.delete("a") is True
    assert store.delete("a") is False
    assert "a" not in store
    assert len(store) == 0


def test_lru_evicts_least_recently_used_not_oldest() -> None:
    store, _, seen = make(max_size=3)
    for k in "abc":
        store.set(k, k)
    assert store.get("a") == "a"  # a becomes most recently used; b is now the LRU
    store.set("d", "d")
    assert "b" not in store
    assert all(k in store for k in "acd")
    assert len(store) == 3
    assert store.evictions == {"lru": 1, "ttl": 0, "resize": 0}
    assert seen == [("lru", 1)]
    assert list(store.keys()) == ["c", "a", "d"]


def test_overwrite_refreshes_recency_and_keeps_size() -> None:
    store, _, _ = make(max_size=2)
    store.set("a", 1)
    store.set("b", 2)
    store.set("a", 3)  # a is now the newest
    store.set("c", 4)
    assert store.get("a") == 3
    assert "b" not in store
    assert len(store) == 2


def test_size_never_exceeds_max_size() -> None:
    store, _, _ = make(max_size=50)
    for i in range(1000):
        store.set(i, i)
        assert len(store) <= 50
    assert store.evictions["lru"] == 950


def test_entries_expire_after_ttl_and_count_as_ttl_evictions() -> None:
    store, clock, seen = make(ttl=10)
    store.set("a", 1)
    clock.advance(9.99)
    assert store.get("a") == 1
    clock.advance(0.02)
    assert store.get("a") is None
    assert "a" not in store
    assert len(store) == 0
    assert store.evictions["ttl"] == 1
    assert seen == [("ttl", 1)]


def test_each_entry_expires_at_its_own_time() -> None:
    store, clock, _ = make(ttl=10)
    store.set("old", 1)
    clock.advance(5)
    store.set("new", 2)
    clock.advance(6)  # old is 11 s old, new 6 s
    assert store.get("old") is None
    assert store.get("new") == 2


def test_set_sweeps_expired_entries_incrementally() -> None:
    store, clock, _ = make(max_size=100, ttl=10)
    for i in range(4):
        store.set(i, i)
    clock.advance(11)
    store.set("fresh", 1)  # sweeps at most two of the four expired entries
    assert 1 <= store.evictions["ttl"] <= 2
    store.set("fresh2", 1)
    store.set("fresh3", 1)
    assert store.evictions["ttl"] == 4
    assert len(store) == 3


def test_sweep_is_bounded_and_stops_at_live_entries() -> None:
    store, clock, _ = make(max_size=1000, ttl=10)
    for i in range(100):
        store.set(i, i)
    clock.advance(5)
    for i in range(100, 110):
        store.set(i, i)
    clock.advance(6)  # the first 100 are expired, the last 10 are not
    assert store.sweep(30) == 30
    assert store.sweep(None) == 70
    assert store.sweep(None) == 0
    assert len(store) == 10


def test_set_ttl_shorter_expires_old_entries_at_once() -> None:
    store, clock, seen = make(max_size=10, ttl=100)
    store.set("old", 1)
    clock.advance(30)
    store.set("young", 2)
    clock.advance(10)  # old is 40 s old, young 10 s
    expired = store.set_ttl(20)
    assert expired == 1
    assert "old" not in store
    assert len(store) == 1
    assert store.get("young") == 2
    assert ("ttl", 1) in seen
    clock.advance(10.5)  # young is now 20.5 s old: it keeps its store time
    assert store.get("young") is None


def test_set_ttl_longer_extends_stored_entries() -> None:
    store, clock, _ = make(ttl=10)
    store.set("a", 1)
    store.set_ttl(100)
    clock.advance(50)
    assert store.get("a") == 1
    assert store.ttl == 100


def test_resize_evicts_least_recently_used_at_once() -> None:
    store, _, seen = make(max_size=5)
    for k in "abcde":
        store.set(k, k)
    store.get("a")
    assert store.resize(2) == 3
    assert len(store) == 2
    assert set(store.keys()) == {"e", "a"}
    assert store.evictions == {"lru": 0, "ttl": 0, "resize": 3}
    assert seen == [("resize", 3)]
    assert store.resize(10) == 0
    for k in "xyz":
        store.set(k, k)
    assert len(store) == 5


def test_stored_at_keeps_an_older_age() -> None:
    store, clock, _ = make(ttl=10)
    store.set("filled", 1, stored_at=clock() - 8)  # e.g. an L2 entry already 8 s old
    assert store.stored_at("filled") == clock() - 8
    clock.advance(2.5)
    assert store.get("filled") is None
    store.set("future", 1, stored_at=clock() + 100)  # never later than now
    assert store.stored_at("future") == clock()


def test_peek_does_not_change_recency() -> None:
    store, _, _ = make(max_size=2)
    store.set("a", 1)
    store.set("b", 2)
    assert store.peek("a") == 1
    store.set("c", 3)
    assert "a" not in store


def test_clear_is_not_an_eviction() -> None:
    store, _, seen = make()
    store.set("a", 1)
    store.set("b", 2)
    assert store.clear() == 2
    assert len(store) == 0
    assert seen == []


def test_infinite_ttl_never_expires() -> None:
    clock = Clock()
    store: LRUTTLStore[Entry] = LRUTTLStore(2, clock=clock)
    store.set("a", 1)
    clock.advance(1e9)
    assert store.get("a") == 1
    assert store.ttl == math.inf


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", None, True])
def test_bad_max_size_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="max_size"):
        LRUTTLStore(bad, 10)  # type: ignore[arg-type]  # a bad value on purpose
    store: LRUTTLStore[Entry] = LRUTTLStore(3, 10)
    with pytest.raises(ValueError, match="max_size"):
        store.resize(bad)  # type: ignore[arg-type]  # a bad value on purpose


@pytest.mark.parametrize("bad", [0, -5, math.nan, "10", None, False])
def test_bad_ttl_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="ttl"):
        LRUTTLStore(3, bad)  # type: ignore[arg-type]  # a bad value on purpose
    store: LRUTTLStore[Entry] = LRUTTLStore(3, 10)
    with pytest.raises(ValueError, match="ttl"):
        store.set_ttl(bad)  # type: ignore[arg-type]  # a bad value on purpose
    assert store.ttl == 10
