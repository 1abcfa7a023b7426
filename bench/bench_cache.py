"""Cache hot path: L1 and L2 hits beside hand-rolled baselines; single-flight."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable
from typing import Any

from bench.harness import Section, fmt_ratio, fmt_time, per_op_async, per_op_sync
from flowdeck.engine import Cache, Context, Engine, EngineSettings, Step

DATA = {"prompt": "What is a primitive?", "temperature": 0.2}


async def _answer(data: Any) -> str:
    return "A primitive is a building block."


async def bench_l1(quick: bool) -> Section:
    import cachetools
    from aiocache import SimpleMemoryCache  # type: ignore[import-untyped]  # ships no types

    sec = Section("Cache: L1 hit")
    n, repeat = (5_000, 5) if quick else (50_000, 9)
    async with Engine(EngineSettings.load(control=False)) as eng:
        cache = Cache(Step(_answer), name="bench-l1", ttl=3600, max_size=10_000)
        eng.add(cache)
        ctx = Context(eng)
        shapes = {
            "str prompt": DATA["prompt"],
            "1-field dict": {"prompt": DATA["prompt"]},
            "2-field dict": DATA,
        }
        by_shape = {}
        for label, data in shapes.items():
            await cache.execute(data, ctx)

            def hit(d: Any = data) -> Awaitable[Any]:
                return cache.execute(d, ctx)

            by_shape[label] = await per_op_async(hit, n, repeat)
        ours = by_shape["2-field dict"]

    raw: dict[str, str] = {"k": "v"}
    raw_get = per_op_sync(lambda: raw.get("k"), n, repeat)

    async def dict_get() -> str | None:
        return raw.get("k")

    raw_async = await per_op_async(dict_get, n, repeat)

    tc: cachetools.TTLCache[str, str] = cachetools.TTLCache(maxsize=10_000, ttl=3600)
    lock = asyncio.Lock()

    async def tc_get() -> str | None:
        key = json.dumps(DATA, sort_keys=True)  # what a hand-rolled cache keys on
        async with lock:
            return tc.get(key)

    tc[json.dumps(DATA, sort_keys=True)] = "v"
    tc_time = await per_op_async(tc_get, n, repeat)

    aio = SimpleMemoryCache()
    akey = json.dumps(DATA, sort_keys=True)
    await aio.set(akey, "v")
    aio_time = await per_op_async(lambda: aio.get(akey), n, repeat)

    for label, t in by_shape.items():
        sec.add(
            f"Cache.execute L1 hit, {label} input", fmt_time(t), "", "", "key + LRU + stats + event"
        )
    sec.add(
        "raw dict.get",
        fmt_time(raw_get),
        "",
        fmt_ratio(ours, raw_get),
        "2-field dict hit vs baseline",
    )
    sec.add("awaited coroutine doing dict.get", fmt_time(raw_async), "", fmt_ratio(ours, raw_async))
    sec.add(
        "cachetools.TTLCache + asyncio.Lock + json key",
        fmt_time(tc_time),
        "",
        fmt_ratio(ours, tc_time),
        "the common hand-rolled L1",
    )
    sec.add("aiocache SimpleMemoryCache.get", fmt_time(aio_time), "", fmt_ratio(ours, aio_time))
    return sec


async def bench_l2(quick: bool, redis_url: str) -> Section:
    import redis.asyncio as aioredis

    sec = Section("Cache: L2 (Redis) hit")
    n, repeat = (200, 9) if quick else (300, 31)
    settings = EngineSettings.load(control=False, redis_url=redis_url)
    async with Engine(settings) as eng:
        # max_size=1 and two alternating keys: every read misses L1 and hits L2.
        cache = Cache(Step(_answer), name="bench-l2", ttl=3600, max_size=1, l2=True)
        eng.add(cache)
        ctx = Context(eng)
        a, b = {"prompt": "a"}, {"prompt": "b"}
        await cache.execute(a, ctx)
        await cache.execute(b, ctx)
        await cache.wait_writes()  # L2 sets are written behind; let them land first
        flip = [a, b]
        state = {"i": 0}

        async def alternate() -> Any:
            state["i"] ^= 1
            return await cache.execute(flip[state["i"]], ctx)

        # The baseline GETs the very record the cache stored, on a client of its own,
        # and the two are measured in alternating rounds so drift hits both alike.
        from flowdeck.engine.stores.keys import digest

        raw_key = f"flowdeck:cache:bench-l2:{digest(a)}"
        client = aioredis.Redis.from_url(redis_url)
        try:
            assert await client.get(raw_key) is not None, "the cache's L2 record is missing"
            assert eng.redis is not None
            same = eng.redis.client  # the cache's own client: timeouts, health checks
            ours_rounds, raw_rounds, same_rounds = [], [], []
            for _ in range(repeat):
                ours_rounds.append(await per_op_async(alternate, n, 1))
                raw_rounds.append(await per_op_async(lambda: client.get(raw_key), n, 1))
                same_rounds.append(await per_op_async(lambda: same.get(raw_key), n, 1))
        finally:
            await client.aclose()
        ours, raw = statistics.median(ours_rounds), statistics.median(raw_rounds)
        same_raw = statistics.median(same_rounds)
        hits_l2 = cache.stats()["hits_l2"]

    sec.add(
        "Cache.execute L2 hit (Redis GET + msgpack + L1 fill)",
        fmt_time(ours),
        fmt_time(raw) + " raw redis-py GET",
        fmt_ratio(ours, raw),
        f"target within 1.3x; {hits_l2} L2 hits; interleaved rounds",
    )
    sec.add(
        "same, against a GET on the cache's own client",
        fmt_time(ours),
        fmt_time(same_raw) + " GET with 0.5 s timeouts + health checks",
        fmt_ratio(ours, same_raw),
        "the cache's own overhead (key, breaker, msgpack record, L1 fill, event)",
    )
    return sec


async def bench_single_flight(quick: bool) -> Section:
    sec = Section("Cache: single-flight")
    nap = 0.01
    async with Engine(EngineSettings.load(control=False)) as eng:
        calls = {"n": 0}

        async def slow(data: Any) -> str:
            calls["n"] += 1
            await asyncio.sleep(nap)
            return "v"

        cache = Cache(Step(slow), name="bench-sf", ttl=3600, max_size=100)
        eng.add(cache)
        ctx = Context(eng)
        for n in (10, 100, 1000):
            calls["n"] = 0
            data = {"prompt": f"same {n}"}
            t0 = time.perf_counter()
            await asyncio.gather(*(cache.execute(data, ctx) for _ in range(n)))
            wall = time.perf_counter() - t0
            sec.add(
                f"{n} concurrent identical misses",
                f"{calls['n']} inner call(s)",
                f"{n} without single-flight",
                "",
                f"wall {fmt_time(wall)} for a {nap * 1000:.0f} ms inner call",
            )
    return sec
