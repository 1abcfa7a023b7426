"""Cache without Redis: L1 behaviour, single-flight, accounting, operator actions.

Long on purpose: every L1 behaviour against one cache fixture.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from flowdeck.engine import Cache, CacheSettings, Completion, Context, Engine, EngineSettings, Step
from flowdeck.engine.stores.keys import digest
from flowdeck.engine.telemetry.events import EventBus, EventKind


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """An inner step that counts its calls and can be made to wait or fail."""

    def __init__(self, result: Any = "ok", *, cost: float = 0.0) -> None:
        self.calls = 0
        self.result = result
        self.cost = cost
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.error: BaseException | None = None

    async def __call__(self, data: Any) -> Any:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        if self.cost:
            return Completion(text=f"{self.result}:{data}", model="m", provider="p", cost=self.cost)
        return f"{self.result}:{data}" if self.result is not None else None


def cache_of(fn: Any, **kw: Any) -> tuple[Cache, EventBus]:
    kw.setdefault("name", "c")
    kw.setdefault("ttl", 60)
    kw.setdefault("max_size", 100)
    cache = Cache(Step(fn), **kw)
    bus = EventBus(4096)
    cache._bus = bus  # what bind() does, without an engine
    return cache, bus


def kinds(bus: EventBus) -> list[str]:
    return [e[2] for e in bus.recent(bus.seq)]


async def test_second_call_is_an_l1_hit_and_events_say_so() -> None:
    inner = Counter()
    cache, bus = cache_of(inner)
    ctx = Context()
    assert await cache.execute("q", ctx) == "ok:q"
    assert await cache.execute("q", ctx) == "ok:q"
    assert inner.calls == 1
    st = cache.stats()
    assert (st["hits"], st["hits_l1"], st["hits_l2"], st["misses"], st["sets"]) == (1, 1, 0, 1, 1)
    assert st["hit_rate"] == 0.5
    assert st["size"] == 1
    assert cache.describe()["l2"] is False and st["l2_up"] is False
    events = bus.recent(bus.seq)
    assert [e[2] for e in events] == [
        EventKind.CACHE_MISS,
        EventKind.CACHE_SET,
        EventKind.CACHE_HIT,
    ]
    miss, set_, hit = events
    assert miss[3:] == ("c", miss[4], False) and len(miss[4]) == 12
    assert set_[3:] == ("c", miss[4], "l1")
    assert hit[3:] == ("c", "l1", miss[4])
    assert miss[4] == digest("q")[:12]


async def test_hit_events_show_the_digest_prefix_for_every_kind_of_key() -> None:
    inner = Counter()
    cache, bus = cache_of(inner)
    chat = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    for data in ("q", {"prompt": "x", "n": 1}, chat, {"odd": [1, 2]}):
        await cache.execute(data, Context())
        await cache.execute(data, Context())
        hit = bus.recent(1)[0]
        assert hit[2:] == (EventKind.CACHE_HIT, "c", "l1", digest(data)[:12])


async def test_dict_inputs_hit_regardless_of_key_order() -> None:
    inner = Counter()
    cache, _ = cache_of(inner)
    await cache.execute({"prompt": "x", "user": "a"}, Context())
    await cache.execute({"user": "a", "prompt": "x"}, Context())
    await cache.execute({"prompt": "x", "user": "b"}, Context())
    assert inner.calls == 2


async def test_key_function_chooses_what_identifies_a_request() -> None:
    inner = Counter()
    cache, _ = cache_of(inner, key=lambda d: d["prompt"])
    await cache.execute({"prompt": "x", "trace": 1}, Context())
    await cache.execute({"prompt": "x", "trace": 2}, Context())
    assert inner.calls == 1


async def test_ttl_expiry_on_an_injected_clock() -> None:
    clock = Clock()
    inner = Counter()
    cache, bus = cache_of(inner, ttl=10, clock=clock)
    await cache.execute("q", Context())
    clock.now += 9.9
    await cache.execute("q", Context())
    assert inner.calls == 1
    clock.now += 0.2
    await cache.execute("q", Context())
    assert inner.calls == 2
    assert cache.stats()["evictions"]["ttl"] == 1
    evict = [e for e in bus.recent(bus.seq) if e[2] == EventKind.CACHE_EVICT]
    assert evict[0][3:] == ("c", "ttl", 1)


async def test_lru_eviction_keeps_l1_bounded() -> None:
    inner = Counter()
    cache, _ = cache_of(inner, max_size=3)
    for q in "abcd":
        await cache.execute(q, Context())
    st = cache.stats()
    assert st["size"] == 3
    assert st["evictions"] == {"lru": 1, "ttl": 0, "resize": 0}
    await cache.execute("a", Context())  # evicted, so computed again
    assert inner.calls == 5


async def test_single_flight_runs_inner_once_for_1000_callers() -> None:
    inner = Counter()
    inner.gate = asyncio.Event()
    cache, _ = cache_of(inner)
    ctx = Context()
    tasks = [asyncio.create_task(cache.execute({"prompt": "same"}, ctx)) for _ in range(1000)]
    await inner.started.wait()  # every caller reached the cache before the fill task ran
    inner.gate.set()
    results = await asyncio.gather(*tasks)
    assert inner.calls == 1
    assert set(results) == {"ok:{'prompt': 'same'}"}
    st = cache.stats()
    assert st["misses"] == 1
    assert st["coalesced"] == 999
    assert st["sets"] == 1
    assert cache._inflight == {}


async def test_inner_error_reaches_every_waiter_and_nothing_is_cached() -> None:
    inner = Counter()
    inner.gate = asyncio.Event()
    inner.error = RuntimeError("model down")
    cache, _ = cache_of(inner)
    tasks = [asyncio.create_task(cache.execute("q", Context())) for _ in range(50)]
    await inner.started.wait()
    inner.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert inner.calls == 1
    assert all(isinstance(r, RuntimeError) and str(r) == "model down" for r in results)
    st = cache.stats()
    assert st["size"] == 0 and st["sets"] == 0
    inner.error = None
    assert await cache.execute("q", Context()) == "ok:q"  # not cached: runs again
    assert inner.calls == 2


async def test_cancelling_one_waiter_does_not_cancel_the_shared_call() -> None:
    inner = Counter()
    inner.gate = asyncio.Event()
    cache, _ = cache_of(inner)
    first = asyncio.create_task(cache.execute("q", Context()))  # the one that started it
    others = [asyncio.create_task(cache.execute("q", Context())) for _ in range(5)]
    await inner.started.wait()
    first.cancel()
    others[0].cancel()
    await asyncio.gather(first, others[0], return_exceptions=True)
    assert first.cancelled() and others[0].cancelled()
    inner.gate.set()
    assert await asyncio.gather(*others[1:]) == ["ok:q"] * 4
    assert inner.calls == 1
    assert cache.stats()["size"] == 1  # the shared call finished and was cached


async def test_call_whose_waiters_all_left_still_fills_the_cache() -> None:
    inner = Counter()
    inner.gate = asyncio.Event()
    cache, _ = cache_of(inner)
    t = asyncio.create_task(cache.execute("q", Context()))
    await inner.started.wait()
    t.cancel()
    inner.gate.set()
    await cache.wait_writes()
    assert await cache.execute("q", Context()) == "ok:q"
    assert inner.calls == 1


async def test_cache_none_false_does_not_store_none() -> None:
    inner = Counter(result=None)
    cache, _ = cache_of(inner, cache_none=False)
    assert await cache.execute("q", Context()) is None
    assert await cache.execute("q", Context()) is None
    assert inner.calls == 2
    kept = Counter(result=None)
    cache2, _ = cache_of(kept)
    await cache2.execute("q", Context())
    await cache2.execute("q", Context())
    assert kept.calls == 1


async def test_time_and_cost_saved_come_from_the_inner_call() -> None:
    inner = Counter(cost=0.25)
    inner.gate = asyncio.Event()
    cache, _ = cache_of(inner)
    t = asyncio.create_task(cache.execute("q", Context()))
    await inner.started.wait()
    await asyncio.sleep(0.02)  # the inner call takes at least this long
    inner.gate.set()
    await t
    for _ in range(3):
        res = await cache.execute("q", Context())
        assert isinstance(res, Completion)
    st = cache.stats()
    assert st["cost_saved"] == pytest.approx(0.75)
    assert st["time_saved"] >= 3 * 0.02


async def test_set_max_size_evicts_down_at_once() -> None:
    inner = Counter()
    cache, bus = cache_of(inner, max_size=10)
    for i in range(10):
        await cache.execute(i, Context())
    await cache.execute(0, Context())  # 0 is the most recently used
    out = cache.set_max_size(3)
    assert out["evicted"] == 7
    st = cache.stats()
    assert st["size"] == 3 and cache.describe()["max_size"] == 3
    assert st["evictions"]["resize"] == 7
    await cache.execute(0, Context())
    assert inner.calls == 10  # 0 survived the resize
    assert (EventKind.CACHE_CONFIG in kinds(bus)) and (EventKind.CACHE_EVICT in kinds(bus))


async def test_set_ttl_applies_to_stored_entries() -> None:
    clock = Clock()
    inner = Counter()
    cache, bus = cache_of(inner, ttl=100, clock=clock)
    await cache.execute("old", Context())
    clock.now += 30
    await cache.execute("young", Context())
    clock.now += 5  # old: 35 s, young: 5 s
    out = cache.set_ttl(20)
    assert out["expired"] == 1
    st = cache.stats()
    assert cache.describe()["ttl"] == 20 and st["size"] == 1
    await cache.execute("young", Context())
    assert inner.calls == 2
    await cache.execute("old", Context())
    assert inner.calls == 3
    config = [e for e in bus.recent(bus.seq) if e[2] == EventKind.CACHE_CONFIG]
    assert config[-1][3:] == ("c", 20.0, 100)


async def test_flush_without_redis_clears_l1() -> None:
    inner = Counter()
    cache, bus = cache_of(inner)
    for q in "abc":
        await cache.execute(q, Context())
    out = await cache.flush()
    assert out == {"name": "c", "l1": 3, "l2": None}
    assert cache.stats()["size"] == 0
    await cache.execute("a", Context())
    assert inner.calls == 4
    flush = [e for e in bus.recent(bus.seq) if e[2] == EventKind.CACHE_FLUSH]
    assert flush[0][3:] == ("c", 3, 0)


async def test_a_fill_started_before_flush_is_not_stored() -> None:
    inner = Counter()
    inner.gate = asyncio.Event()
    cache, _ = cache_of(inner)
    t = asyncio.create_task(cache.execute("q", Context()))
    await inner.started.wait()
    await cache.flush()
    inner.gate.set()
    assert await t == "ok:q"
    assert cache.stats()["size"] == 0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": math.inf}, "ttl"),
        ({"ttl": math.nan}, "ttl"),
        ({"ttl": "60"}, "ttl"),
        ({"max_size": 0}, "max_size"),
        ({"max_size": 2.5}, "max_size"),
        ({"max_size": True}, "max_size"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_constructor_arguments_are_rejected(kw: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"name": "c", "ttl": 60, "max_size": 10, **kw}
    with pytest.raises(ValueError, match=match):
        Cache(Step(lambda d: d), **args)


def test_bad_operator_values_are_rejected_and_change_nothing() -> None:
    cache = Cache(Step(lambda d: d), name="c", ttl=60, max_size=10)
    for bad in (0, -3, math.inf, "x"):
        with pytest.raises(ValueError, match="ttl"):
            cache.set_ttl(bad)  # type: ignore[arg-type]  # a bad value on purpose
    for bad_size in (0, -1, 1.5, None):
        with pytest.raises(ValueError, match="max_size"):
            cache.set_max_size(bad_size)  # type: ignore[arg-type]  # a bad value on purpose
    assert (cache.ttl, cache.max_size) == (60, 10)


def test_describe_matches_the_contract() -> None:
    cache = Cache(Step(lambda d: d), name="c", ttl=60, max_size=10)
    d = cache.describe()
    assert {"name", "kind", "ttl", "max_size", "l2", "stats"} <= d.keys()
    assert d["kind"] == "cache" and d["l2"] is False
    assert {
        "hits",
        "hits_l1",
        "hits_l2",
        "misses",
        "coalesced",
        "sets",
        "evictions",
        "size",
        "hit_rate",
        "l2_up",
        "l2_errors",
        "time_saved",
        "cost_saved",
    } <= d["stats"].keys()
    assert d["stats"]["evictions"] == {"lru": 0, "ttl": 0, "resize": 0}


async def test_engine_settings_override_a_cache_by_name() -> None:
    settings = EngineSettings.load(
        control=False, caches={"tuned": CacheSettings(ttl=5, max_size=7, l2=True)}
    )
    async with Engine(settings) as eng:
        cache = Cache(Step(lambda d: d), name="tuned", ttl=60, max_size=100)
        assert await eng.run(cache, "x") == "x"
        assert (cache.ttl, cache.max_size) == (5, 7)
        # l2 asked for, but this engine has no Redis: L1-only, and describe() says so
        st = cache.stats()
        assert cache.describe()["l2"] is False and st["l2_errors"] == 0
        assert eng.snapshot()["caches"]["tuned"]["max_size"] == 7


async def test_events_reach_the_engine_bus() -> None:
    async with Engine(EngineSettings.load(control=False)) as eng:
        cache = Cache(Step(lambda d: d), name="evts", ttl=60, max_size=10)
        await eng.run(cache, "a")
        await eng.run(cache, "a")
        got = [e[2] for e in eng.bus.recent(eng.bus.seq) if e[3] == "evts"]
        assert got == [EventKind.CACHE_MISS, EventKind.CACHE_SET, EventKind.CACHE_HIT]


async def test_engine_close_does_not_hang_on_a_stuck_inner_call() -> None:
    inner = Counter()
    inner.gate = asyncio.Event()  # never set: the inner call hangs
    async with Engine(EngineSettings.load(control=False)) as eng:
        cache = Cache(Step(inner), name="stuck", ttl=60, max_size=10)
        eng.add(cache)
        caller = asyncio.create_task(eng.run(cache, "q"))
        await inner.started.wait()
        caller.cancel()
        closing = asyncio.create_task(cache.aclose(grace=0.05))
        await asyncio.wait_for(closing, 5)
    assert cache._writes == set()


class Versioned:
    """An inner step whose answer is its current ``version``; each call waits on its own
    gate so a test can finish an older call after a newer one started."""

    def __init__(self) -> None:
        self.version = "old"
        self.gates: list[asyncio.Event] = []
        self.calls = 0
        self.changed = asyncio.Condition()

    async def __call__(self, data: Any) -> str:
        self.calls += 1
        answer = self.version
        gate = asyncio.Event()
        self.gates.append(gate)
        async with self.changed:
            self.changed.notify_all()
        await gate.wait()
        return f"{answer}:{data}"


async def _started(inner: Versioned, n: int) -> None:
    """Wait until ``n`` inner calls have begun (fails fast instead of hanging)."""
    async with inner.changed:
        await asyncio.wait_for(inner.changed.wait_for(lambda: len(inner.gates) >= n), 5)


async def test_a_caller_after_flush_starts_a_fresh_fill_and_earlier_waiters_keep_theirs() -> None:
    inner = Versioned()
    cache, _ = cache_of(inner)
    before = [asyncio.create_task(cache.execute("q", Context())) for _ in range(3)]
    await _started(inner, 1)
    await cache.flush()
    inner.version = "new"
    after = asyncio.create_task(cache.execute("q", Context()))
    await _started(inner, 2)  # the late caller did not join the pre-flush call
    inner.gates[0].set()
    assert [await t for t in before] == ["old:q"] * 3
    assert cache.stats()["size"] == 0  # the pre-flush result was not stored
    inner.gates[1].set()
    assert await after == "new:q"
    assert await cache.execute("q", Context()) == "new:q"  # and the fresh one was
    assert inner.calls == 2


async def test_a_ttl_change_that_expires_entries_also_starts_fresh_fills() -> None:
    clock = Clock()
    inner = Versioned()
    cache, _ = cache_of(inner, ttl=60, clock=clock)
    first = asyncio.create_task(cache.execute("a", Context()))
    await _started(inner, 1)
    inner.gates[0].set()
    await first
    clock.now += 30
    pending = asyncio.create_task(cache.execute("q", Context()))
    await _started(inner, 2)
    assert cache.set_ttl(10)["expired"] == 1
    inner.version = "new"
    late = asyncio.create_task(cache.execute("q", Context()))
    await _started(inner, 3)
    inner.gates[1].set()
    inner.gates[2].set()
    assert (await pending, await late) == ("old:q", "new:q")
    assert await cache.execute("q", Context()) == "new:q"


async def test_reading_stats_does_not_change_what_it_reports() -> None:
    clock = Clock()
    cache, _ = cache_of(Counter(), ttl=10, clock=clock)
    for q in ("a", "b", "c"):
        await cache.execute(q, Context())
    clock.now += 11
    first = cache.stats()
    assert first["size"] == 0  # expired entries are not reported as held
    assert cache.stats() == first  # ... and reading did not evict (or count) them
    assert first["evictions"]["ttl"] == 0
