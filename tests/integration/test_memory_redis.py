"""Memory with a real Redis: write-through, load on start, nothing lost in an outage."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from flowdeck.engine import Completion, Engine, EngineSettings, Memory
from flowdeck.engine.stores import codec
from tests.support.redis_fleet import link_of
from tests.support.redis_server import RedisServer
from tests.support.waiting import until


def engine(url: str) -> Engine:
    return Engine(EngineSettings.load(redis_url=url, control=False))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def stored(client: aioredis.Redis, ns: str) -> dict[str, Any]:
    """What Redis holds for a namespace, decoded."""
    out = {}
    # The client has no decode_responses, so Redis answers in bytes.
    fields = cast(dict[bytes, bytes], await client.hgetall(f"flowdeck:memory:{ns}"))
    for field, blob in fields.items():
        out[field.decode()] = codec.unpack_record(blob)[0]
    return out


async def test_add_writes_through_and_clear_clears_both(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    ns = unique("wt")
    async with engine(redis_server.url) as eng:
        mem = Memory(name=unique("m"), namespace=ns, l2=True)
        await eng.run(mem, "warm up")  # registers and starts it
        await mem.add("note", {"text": "remember the milk", "n": 2})
        await mem.add("reply", Completion(text="ok", model="m", provider="p", cost=0.1))
        got = await stored(redis_raw, ns)  # no waiting: write-through means it is there now
        assert got["note"] == {"text": "remember the milk", "n": 2}
        assert got["reply"] == Completion(text="ok", model="m", provider="p", cost=0.1)
        assert mem.describe()["l2"] is True
        assert await mem.clear() == 3
        assert await redis_raw.exists(f"flowdeck:memory:{ns}") == 0
        assert mem.size == 0


async def test_eviction_is_written_through(
    redis_server: RedisServer, redis_raw: aioredis.Redis
) -> None:
    ns = unique("ev")
    async with engine(redis_server.url) as eng:
        mem = Memory(name=unique("m"), namespace=ns, max_size=3, l2=True)
        eng.add(mem)
        for i in range(5):
            await mem.add(f"k{i}", f"value {i}")
        assert set(await stored(redis_raw, ns)) == {"k2", "k3", "k4"}


async def test_unstorable_values_are_refused_before_anything_changes(
    redis_server: RedisServer,
) -> None:
    async with engine(redis_server.url) as eng:
        mem = Memory(name=unique("m"), l2=True)
        eng.add(mem)
        with pytest.raises(TypeError, match="object"):
            await mem.add("k", object())
        assert mem.size == 0


async def test_a_second_engine_loads_the_first_ones_memory(redis_server: RedisServer) -> None:
    ns = unique("share")
    async with engine(redis_server.url) as a:
        ma = Memory(name="conv", namespace=ns, l2=True)
        a.add(ma)
        await ma.add("k1", "the first engine learned about zebras")
        await ma.add("k2", "and about lions")
        await ma.add("k1", "the first engine learned about zebras and giraffes")
    async with engine(redis_server.url) as b:
        mb = Memory(name="conv", namespace=ns, l2=True)
        await b.run(mb, {"no": "prompt"})  # registering on a running engine starts it
        assert mb.size == 2
        assert [h["key"] for h in mb.search("giraffes zebras lions")] == ["k1", "k2"]
        assert mb.get("k1") == "the first engine learned about zebras and giraffes"
        # Recency survives the trip: k1 was written last.
        assert [h["key"] for h in mb.search("about")] == ["k1", "k2"]


async def test_entries_written_during_an_outage_reach_redis_after_restart(
    redis_proc: RedisServer,
) -> None:
    ns = unique("outage")
    async with engine(redis_proc.url) as eng:
        mem = Memory(name="m", namespace=ns, max_size=100, l2=True)
        eng.add(mem)
        await mem.add("before", "written while Redis was up")
        redis_proc.kill()
        for i in range(30):  # never an exception to the caller
            await mem.add(f"during{i}", f"outage entry {i}")
        await mem.add("during0", "overwritten during the outage")
        await until(lambda: not link_of(eng).up)  # the drain's retries open the breaker
        st = mem.stats()
        assert st["pending_l2"] == 30
        assert st["l2_errors"] >= 1
        assert mem.search("outage")  # local reads keep working

        redis_proc.restart()  # an empty Redis: "before" went with the old process...
        client = aioredis.Redis.from_url(redis_proc.url)
        try:
            deadline = time.monotonic() + 10
            while True:  # wait for the engine's drain (another task), then assert
                got = await stored(client, ns)
                if len(got) >= 31 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()
        assert set(got) == {"before"} | {f"during{i}" for i in range(30)}
        assert got["before"] == "written while Redis was up"  # ...and was written back
        assert mem.stats()["pending_l2"] == 0
        assert got["during0"] == "overwritten during the outage"  # order kept: last wins
        await mem.add("after", "written after recovery")  # direct again
        assert mem.stats()["pending_l2"] == 0


async def test_clear_during_an_outage_is_applied_when_redis_returns(
    redis_proc: RedisServer,
) -> None:
    ns = unique("clr")
    redis_proc_url = redis_proc.url
    async with engine(redis_proc_url) as eng:
        mem = Memory(name="m", namespace=ns, l2=True)
        eng.add(mem)
        for i in range(5):
            await mem.add(f"k{i}", "x")
        # Make Redis unreachable without losing its data: pause it, then resume.
        assert redis_proc.proc is not None
        redis_proc.proc.send_signal(19)  # SIGSTOP
        try:
            for i in range(3):  # timeouts trip the breaker
                await mem.add(f"late{i}", "y")
            await until(lambda: not link_of(eng).up)
            assert await mem.clear() == 8
            await mem.add("new", "after the clear")
        finally:
            redis_proc.proc.send_signal(18)  # SIGCONT
        await until(lambda: mem.stats()["pending_l2"] == 0)
        client = aioredis.Redis.from_url(redis_proc_url)
        try:
            assert set(await stored(client, ns)) == {"new"}
        finally:
            await client.aclose()


async def test_clear_reaches_other_engines_on_the_namespace(redis_server: RedisServer) -> None:
    ns = unique("fleet")
    async with engine(redis_server.url) as a, engine(redis_server.url) as b:
        ma = Memory(name="m", namespace=ns, l2=True)
        await a.run(ma, "warm")
        await ma.add("k1", "one")
        mb = Memory(name="m", namespace=ns, l2=True)
        await b.run(mb, {"no": "prompt"})  # starts it: loads k1 and "warm"
        assert mb.size == 2
        await asyncio.wait_for(link_of(b).subscribed.wait(), 10)  # pub/sub: listen first
        assert await ma.clear() == 2
        await until(lambda: mb.size == 0)
        assert mb.search("one") == []


async def test_loading_late_never_resurrects_what_was_removed_here(
    redis_proc: RedisServer,
) -> None:
    ns = unique("late")
    async with engine(redis_proc.url) as a:
        ma = Memory(name="m", namespace=ns, l2=True)
        a.add(ma)
        await ma.add("x", "remote x")
        await ma.add("r", "remote r")
    assert redis_proc.proc is not None
    redis_proc.proc.send_signal(19)  # SIGSTOP: engine b starts while Redis is unreachable
    try:
        b = engine(redis_proc.url)
        await b.start()
        mb = Memory(name="m", namespace=ns, max_size=4, l2=True)
        await b.run(mb, {"no": "prompt"})
        assert not link_of(b).up and mb.size == 0
        for key in ("x", "p", "q", "s", "t"):  # x is added here, then evicted here
            await mb.add(key, f"local {key}")
        assert mb.get("x") is None
    finally:
        redis_proc.proc.send_signal(18)  # SIGCONT
    try:
        await until(lambda: link_of(b).up and mb.stats()["pending_l2"] == 0)
        # Redis's "x" stays deleted; "r" is older than everything added here, so it is
        # the one that does not fit.
        assert mb.get("x") is None
        assert [h["key"] for h in mb.search("local remote", limit=10)] == ["t", "s", "q", "p"]
        client = aioredis.Redis.from_url(redis_proc.url)
        try:
            assert set(await stored(client, ns)) == {"r", "p", "q", "s", "t"}
        finally:
            await client.aclose()
    finally:
        await b.close()
