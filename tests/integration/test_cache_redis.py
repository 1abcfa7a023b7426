"""Cache with a real Redis L2: sharing, flush by prefix, TTL changes, outages."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from flowdeck.engine import Cache, Completion, Engine, EngineSettings, Step
from flowdeck.engine.stores.keys import digest
from flowdeck.engine.telemetry.events import EventKind
from tests.support.redis_fleet import link_of
from tests.support.redis_server import RedisServer
from tests.support.waiting import until


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Model:
    """An inner step standing in for a provider: counts calls, returns a Completion."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, data: Any) -> Completion:
        self.calls += 1
        return Completion(
            text=f"answer to {data['prompt']}",
            model="m-1",
            provider="sim",
            tokens_in=3,
            tokens_out=5,
            cost=0.002,
            latency=0.01,
            extra={"finish": "stop", "n": [1, 2]},
        )


def engine(url: str) -> Engine:
    return Engine(EngineSettings.load(redis_url=url, control=False))


async def test_two_engines_share_l2_and_an_l2_hit_fills_l1(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    name = unique("shared")
    model = Model()
    async with engine(redis_server.url) as a, engine(redis_server.url) as b:
        ca = Cache(Step(model), name=name, ttl=60, max_size=10, l2=True)
        cb = Cache(Step(model), name=name, ttl=60, max_size=10, l2=True)
        first = await a.run(ca, {"prompt": "why"})
        await ca.wait_writes()
        rkey = f"flowdeck:cache:{name}:{digest({'prompt': 'why'})}"
        assert await redis_raw.exists(rkey) == 1
        assert 55_000 < await redis_raw.pttl(rkey) <= 60_000
        stored = await redis_raw.get(rkey)
        assert isinstance(stored, bytes)
        assert b"\x80\x03" not in stored  # not a pickle

        second = await b.run(cb, {"prompt": "why"})
        assert model.calls == 1
        assert isinstance(second, Completion)
        assert second == first  # every field, extra included, survives msgpack
        st = cb.stats()
        assert (st["hits_l2"], st["hits_l1"], st["misses"], st["size"]) == (1, 0, 0, 1)
        assert st["cost_saved"] == pytest.approx(0.002)
        assert cb.describe()["l2"] is True

        await b.run(cb, {"prompt": "why"})  # now served from L1
        assert cb.stats()["hits_l1"] == 1
        hits = [e[3:] for e in b.bus.recent(b.bus.seq) if e[2] == EventKind.CACHE_HIT]
        assert [h[1] for h in hits] == ["l2", "l1"]
        sets = [e[3:] for e in a.bus.recent(a.bus.seq) if e[2] == EventKind.CACHE_SET]
        assert sets[0][2] == "l1+l2"


async def test_flush_deletes_only_this_caches_keys(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    base = unique("fl")
    others = {
        f"flowdeck:cache:{base}x:k": b"1",  # a cache whose name starts the same
        f"flowdeck:cache:{base}": b"1",  # no trailing colon: not under the prefix
        f"flowdeck:memory:{base}": b"1",
        f"unrelated:{base}": b"1",
    }
    for k, v in others.items():
        await redis_raw.set(k, v)
    async with engine(redis_server.url) as eng:
        mine = Cache(Step(lambda d: d.upper()), name=base, ttl=60, max_size=100, l2=True)
        star = Cache(Step(lambda d: d.upper()), name=base + "*", ttl=60, max_size=100, l2=True)
        for i in range(30):
            await eng.run(mine, f"q{i}")
            await eng.run(star, f"q{i}")
        await mine.wait_writes()
        await star.wait_writes()
        # The glob characters in "<base>*" must not make its flush match <base>'s keys.
        out = await star.flush()
        assert out == {"name": base + "*", "l1": 30, "l2": 30}
        assert len([k async for k in redis_raw.scan_iter(match=f"flowdeck:cache:{base}:*")]) == 30
        out = await mine.flush()
        assert out == {"name": base, "l1": 30, "l2": 30}
        assert [k async for k in redis_raw.scan_iter(match=f"flowdeck:cache:{base}:*")] == []
        for k in others:
            assert await redis_raw.exists(k) == 1, k
        flushes = [e[3:] for e in eng.bus.recent(eng.bus.seq) if e[2] == EventKind.CACHE_FLUSH]
        assert flushes == [(base + "*", 30, 30), (base, 30, 30)]


async def test_shorter_ttl_expires_old_entries_in_l1_and_l2(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    name = unique("ttl")
    wall, mono = Clock(1_700_000_000.0), Clock(100.0)
    model = Model()

    def rkey(prompt: str) -> str:
        return f"flowdeck:cache:{name}:{digest({'prompt': prompt})}"

    async with engine(redis_server.url) as a, engine(redis_server.url) as b:
        kw: dict[str, Any] = {"name": name, "max_size": 10, "l2": True, "wall_clock": wall}
        ca = Cache(Step(model), ttl=100, clock=mono, **kw)
        for prompt in ("old", "older"):
            await a.run(ca, {"prompt": prompt})
        wall.now += 30
        mono.now += 30
        await a.run(ca, {"prompt": "young"})
        await ca.wait_writes()
        wall.now += 5
        mono.now += 5  # old, older: 35 s; young: 5 s
        assert model.calls == 3

        # Engine b is built with the shorter TTL (no re-timing ran, no message was
        # sent): the read itself must judge the record's age.
        cb = Cache(Step(model), ttl=20, **kw)
        await b.run(cb, {"prompt": "old"})
        assert model.calls == 4  # 35 s old under a 20 s TTL: a miss at once
        await b.run(cb, {"prompt": "young"})
        assert model.calls == 4  # 5 s old: an L2 hit
        assert cb.stats()["hits_l2"] == 1
        await cb.wait_writes()

        # Engine a shortens its TTL: L1 drops the old entries now...
        out = ca.set_ttl(20)
        assert out["expired"] == 2
        assert ca.stats()["size"] == 1
        await a.run(ca, {"prompt": "young"})
        assert ca.stats()["hits_l1"] == 1
        # ...and the background re-timing deletes the L2 record nobody re-stored and
        # gives the young one its remaining 15 s.
        await ca.wait_writes()
        assert await redis_raw.exists(rkey("older")) == 0
        assert 0 < await redis_raw.pttl(rkey("young")) <= 15_000
        assert 19_000 < await redis_raw.pttl(rkey("old")) <= 20_000  # b re-stored it just now


async def test_retime_deletes_expired_keys_and_extends_live_ones(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    name = unique("retime")
    wall = Clock(1_700_000_000.0)
    async with engine(redis_server.url) as eng:
        cache = Cache(
            Step(lambda d: d * 2), name=name, ttl=50, max_size=100, l2=True, wall_clock=wall
        )
        for i in range(20):
            await eng.run(cache, f"a{i}")
        wall.now += 40
        for i in range(20):
            await eng.run(cache, f"b{i}")
        await cache.wait_writes()
        wall.now += 1  # a*: 41 s old, b*: 1 s old
        cache.set_ttl(30)
        await cache.wait_writes()
        keys = [k async for k in redis_raw.scan_iter(match=f"flowdeck:cache:{name}:*")]
        assert len(keys) == 20
        for k in keys:
            assert 28_000 < await redis_raw.pttl(k) <= 29_000
        cache.set_ttl(3600)
        await cache.wait_writes()
        for k in keys:
            assert await redis_raw.pttl(k) > 3_500_000


async def test_unserialisable_results_stay_in_l1_and_are_counted(
    redis_server: RedisServer,
) -> None:
    class Opaque:
        pass

    thing = Opaque()
    async with engine(redis_server.url) as eng:
        cache = Cache(Step(lambda d: thing), name=unique("opaque"), ttl=60, max_size=10, l2=True)
        assert await eng.run(cache, "x") is thing
        await cache.wait_writes()
        assert await eng.run(cache, "x") is thing
        st = cache.stats()
        assert st["hits_l1"] == 1 and st["l2_errors"] == 1
        errs = [e[3:] for e in eng.bus.recent(eng.bus.seq) if e[2] == EventKind.CACHE_L2_ERROR]
        assert "Opaque" in errs[0][1]


async def test_foreign_values_under_the_prefix_are_misses(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    name = unique("foreign")
    rkey = f"flowdeck:cache:{name}:{digest('x')}"
    await redis_raw.set(rkey, b"not a flowdeck record")
    async with engine(redis_server.url) as eng:
        cache = Cache(Step(lambda d: d + "!"), name=name, ttl=60, max_size=10, l2=True)
        assert await eng.run(cache, "x") == "x!"
        await cache.wait_writes()
        assert cache.stats()["l2_errors"] == 1
        stored = await redis_raw.get(rkey)
        assert isinstance(stored, bytes)
        assert stored[:2] == b"FD"  # replaced by a proper record


async def test_redis_killed_mid_traffic_then_restarted(redis_proc: RedisServer) -> None:
    name = unique("outage")
    async with engine(redis_proc.url) as eng:
        cache = Cache(Step(lambda d: f"r:{d}"), name=name, ttl=60, max_size=50, l2=True)
        eng.add(cache)
        errors: list[BaseException] = []
        ops = 0
        stop = asyncio.Event()
        counter = itertools.count()

        async def worker() -> None:
            nonlocal ops
            while not stop.is_set():
                key = f"k{next(counter) % 200}"
                try:
                    assert await eng.run(cache, key) == f"r:{key}"
                except BaseException as exc:  # the point: nothing may reach the caller
                    errors.append(exc)
                ops += 1
                await asyncio.sleep(0)

        workers = [asyncio.create_task(worker()) for _ in range(4)]
        try:
            await until(lambda: ops > 200)
            assert link_of(eng).up and cache.stats()["l2_errors"] == 0
            redis_proc.kill()
            await until(lambda: not link_of(eng).up)  # the breaker opened
            before = ops
            await until(lambda: ops > before + 200)  # traffic goes on, L1 only
            assert cache.stats()["l2_errors"] > 0
            assert cache.stats()["l2_up"] is False
            redis_proc.restart()
            await until(lambda: link_of(eng).up)
            assert link_of(eng).describe()["reconnects"] == 1
            before = ops
            await until(lambda: ops > before + 200)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert errors == []
        down = [e[3] for e in eng.bus.recent(eng.bus.seq) if e[2] == EventKind.REDIS]
        assert down[-2:] == ["down", "up"]

        # L2 works again: a new entry is written, and a cold L1 is refilled from it.
        await eng.run(cache, "after")
        await cache.wait_writes()
        client = aioredis.Redis.from_url(redis_proc.url)
        try:
            assert await client.exists(f"flowdeck:cache:{name}:{digest('after')}") == 1
        finally:
            await client.aclose()
        cache._store.clear()
        hits_l2 = cache.stats()["hits_l2"]
        assert await eng.run(cache, "after") == "r:after"
        assert cache.stats()["hits_l2"] == hits_l2 + 1


async def test_redis_down_at_start_is_l1_only_without_errors_to_callers(
    redis_proc: RedisServer,
) -> None:
    redis_proc.kill()
    async with engine(redis_proc.url) as eng:
        cache = Cache(Step(lambda d: d), name=unique("cold"), ttl=60, max_size=10, l2=True)
        for _ in range(3):
            assert await eng.run(cache, "x") == "x"
        st = cache.stats()
        assert st["hits_l1"] == 2 and st["misses"] == 1
        assert cache.describe()["l2"] is True
        assert st["l2_up"] is False and st["l2_errors"] >= 1
        assert (await cache.flush())["l2"] is None
        redis_proc.start()
        await until(lambda: link_of(eng).up)
        await eng.run(cache, "y")
        await cache.wait_writes()
        sets = [e[5] for e in eng.bus.recent(eng.bus.seq) if e[2] == EventKind.CACHE_SET]
        assert sets == ["l1", "l1+l2"]


async def test_flush_and_ttl_changes_reach_other_engines_l1(redis_server: RedisServer) -> None:
    name = unique("fleet")
    async with engine(redis_server.url) as a, engine(redis_server.url) as b:
        ca = Cache(Step(lambda d: d + "!"), name=name, ttl=60, max_size=10, l2=True)
        cb = Cache(Step(lambda d: d + "!"), name=name, ttl=60, max_size=10, l2=True)
        other = Cache(Step(lambda d: d), name=unique("bystander"), ttl=60, max_size=10)
        for q in ("x", "y"):
            await a.run(ca, q)
            await b.run(cb, q)
            await b.run(other, q)
        await ca.wait_writes()
        await cb.wait_writes()
        assert cb.stats()["size"] == 2
        await asyncio.wait_for(link_of(b).subscribed.wait(), 10)  # pub/sub: listen first

        out = await ca.flush()  # one engine's operator action...
        assert out["l1"] == 2
        await until(lambda: cb.stats()["size"] == 0)  # ...empties the other's L1 too
        assert other.stats()["size"] == 2  # a cache with another name is untouched
        flushes = [e[3:] for e in b.bus.recent(b.bus.seq) if e[2] == EventKind.CACHE_FLUSH]
        assert flushes == [(name, 2, 0)]

        ca.set_ttl(7)
        await until(lambda: cb.ttl == 7)
        assert cb.describe()["ttl"] == 7
        assert ca.ttl == 7  # its own message does not come back to it
        configs = [e[3:] for e in a.bus.recent(a.bus.seq) if e[2] == EventKind.CACHE_CONFIG]
        assert configs == [(name, 7, 10)]


async def test_l2_is_the_default_on_an_engine_with_redis_and_opts_out_per_cache(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    on, off, by_setting = unique("default-l2"), unique("no-l2"), unique("set-no-l2")
    settings = EngineSettings.load(
        redis_url=redis_server.url, control=False, caches={by_setting: {"l2": False}}
    )
    async with Engine(settings) as eng:
        caches = [
            Cache(Step(lambda d: d), name=on, ttl=60, max_size=10),
            Cache(Step(lambda d: d), name=off, ttl=60, max_size=10, l2=False),
            Cache(Step(lambda d: d), name=by_setting, ttl=60, max_size=10),
        ]
        for c in caches:
            await eng.run(c, "q")
            await c.wait_writes()
        assert [c.describe()["l2"] for c in caches] == [True, False, False]
        found = [await redis_raw.exists(f"flowdeck:cache:{n}:{digest('q')}") for n in (on, off)]
        assert found == [1, 0]
        assert await redis_raw.exists(f"flowdeck:cache:{by_setting}:{digest('q')}") == 0
