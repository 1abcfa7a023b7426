"""Memory across engines through a real redis-server: announcements, and reconciliation
of a large namespace after Redis restarts from an older snapshot."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from flowdeck.engine import Engine, EngineSettings, Memory
from flowdeck.engine.stores import codec
from tests.support.redis_fleet import link_of, unique_fleet
from tests.support.redis_server import RedisServer
from tests.support.waiting import until


def mem_engine(url: str, fleet: str) -> Engine:
    return Engine(EngineSettings.load(redis_url=url, fleet=fleet, control=False))


async def test_a_turn_added_on_a_is_found_by_get_and_search_on_b(
    redis_server: RedisServer,
) -> None:
    fleet = unique_fleet("mem")
    async with mem_engine(redis_server.url, fleet) as a, mem_engine(redis_server.url, fleet) as b:
        ma, mb = (
            Memory(name="conv", namespace="n", l2=True),
            Memory(name="conv", namespace="n", l2=True),
        )
        a.add(ma)
        b.add(mb)
        await ma.astart()
        await mb.astart()
        await asyncio.wait_for(link_of(b).subscribed.wait(), 10)
        t0 = time.monotonic()
        await ma.add("turn-1", "the user asked about okapis")
        await ma.add("big", {"text": "x " * 10_000 + "pangolin"})  # too big to ride along
        await until(lambda: mb.get("turn-1") is not None and mb.get("big") is not None, within=1.0)
        assert time.monotonic() - t0 < 1.0
        assert [h["key"] for h in mb.search("okapis")] == ["turn-1"]
        assert [h["key"] for h in mb.search("pangolin")] == ["big"]
        assert mb.stats()["remote_puts"] >= 1  # (a late start task may load one instead)


@pytest.mark.timeout(300)
async def test_reconcile_after_an_older_snapshot_pages_a_250k_namespace(
    redis_proc: RedisServer,
) -> None:
    fleet = unique_fleet("rdb")
    rkey = f"{fleet}:memory:big"
    raw = aioredis.Redis.from_url(redis_proc.url)
    try:
        async with mem_engine(redis_proc.url, fleet) as eng:
            mem = Memory(name="big", namespace="big", max_size=1000, l2=True)
            eng.add(mem)
            await mem.astart()
            now = time.time()
            for start in range(0, 250_000, 10_000):  # other engines' entries, 250k fields
                fields = {
                    f"k{i}": codec.pack_record("v", now) for i in range(start, start + 10_000)
                }
                await raw.hset(rkey, mapping=fields)  # type: ignore[arg-type]  # redis-py types mapping narrower than it accepts
            await raw.save()  # the "older" snapshot: without what follows
            newer = [f"new{i}" for i in range(200)]
            for key in newer:
                await mem.add(key, "written after the snapshot")
            assert await raw.hexists(rkey, "new0")
            await raw.aclose()
            before = mem.stats()["reconciles"]
            redis_proc.kill()
            redis_proc.start()  # loads dump.rdb: 250k fields, none of the newer ones
            raw = aioredis.Redis.from_url(redis_proc.url)
            assert await raw.hlen(rkey) == 250_000
            await until(lambda: mem.stats()["reconciles"] > before, within=30)
            await until(lambda: mem.stats()["pending_l2"] == 0, within=240)
            values = await raw.hmget(rkey, newer)
            assert [k for k, v in zip(newer, values, strict=True) if v is None] == []
            assert await raw.hlen(rkey) == 250_200
            # A read that hit the dead server gave up (counted) and the next one succeeded.
            assert mem.describe()["stats"]["reconciles"] > before
    finally:
        await raw.aclose()
