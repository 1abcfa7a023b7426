"""The fleet through Redis: heartbeat cost, fleet command round trip, ``ls --redis``.

Engines here are in-process (one event loop) to keep the machine quiet; the round trip
still crosses Redis twice (PUBLISH, RPUSH -> BLPOP). Baselines are a plain Redis PING
and GET measured on the same connection moments before.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import AsyncExitStack
from typing import Any

import redis.asyncio as aioredis

from bench.harness import Section, fmt_time
from flowdeck.engine import Cache, Engine, EngineSettings, Step
from flowdeck.engine.fleet.reader import FleetReader
from flowdeck.engine.fleet.sender import FleetSender


def _engine(url: str, fleet: str, caches: int, host: str) -> Engine:
    eng = Engine(
        EngineSettings.load(
            redis_url=url, fleet=fleet, control=False, host=host, fleet_interval=1.0
        )
    )
    for i in range(caches):
        eng.add(Cache(Step(lambda d: d), name=f"c{i}", ttl=60, max_size=100))
    return eng


def _pct(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(len(samples) * q))]


async def bench_redis_fleet(quick: bool, url: str) -> Section:
    sec = Section("Fleet through Redis")
    client = aioredis.Redis.from_url(url)
    try:
        pings = []
        for _ in range(200):
            t0 = time.perf_counter()
            await client.ping()
            pings.append(time.perf_counter() - t0)
        ping = statistics.median(pings)

        # Heartbeat: CPU per beat with 20 caches (payload + one pipelined round trip).
        async with _engine(url, "bench-hb", 20, "bench") as eng:
            hb = eng.fleet.heartbeat
            assert hb is not None
            n = 50 if quick else 300
            cpu0, t0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                await hb.beat()
            cpu = (time.process_time() - cpu0) / n
            wall = (time.perf_counter() - t0) / n
        sec.add(
            "heartbeat, 20 caches: engine CPU per beat",
            fmt_time(cpu),
            f"PING {fmt_time(ping)}",
            f"{cpu / 1.0:.2%} of a core",
            f"at 1 s interval; wall {fmt_time(wall)}; 3 Redis commands/s per engine "
            "(SET, ZADD, ZREMRANGEBYSCORE in one pipeline); target < 1%",
        )

        # Fleet command round trip to 8 engines.
        async with AsyncExitStack() as stack:
            engines = [
                await stack.enter_async_context(_engine(url, "bench-cmd", 1, f"h{i}"))
                for i in range(8)
            ]
            for e in engines:
                await asyncio.wait_for(e.redis.subscribed.wait(), 10)
            sender = FleetSender.from_url(url, "bench-cmd")
            try:
                samples = []
                for i in range(30 if quick else 200):
                    t0 = time.perf_counter()
                    report = await sender.send(
                        "cache.set_max_size", {"name": "c0", "max_size": 50 + i}
                    )
                    samples.append(time.perf_counter() - t0)
                    assert report.ok, report.summary()
            finally:
                await sender.close()
        sec.add(
            "fleet command to 8 engines, round trip p50",
            fmt_time(statistics.median(samples)),
            f"PING {fmt_time(ping)}",
            f"{statistics.median(samples) / ping:.0f}x",
            f"p99 {fmt_time(_pct(samples, 0.99))}; target p99 < 50 ms; includes the override "
            "write and the audit XADD",
        )

        # ls --redis with 50 engines: heartbeats written directly (50 payloads of 5 caches).
        async with _engine(url, "bench-ls", 5, "seed") as seed:
            hb = seed.fleet.heartbeat
            assert hb is not None
            blob = hb.payload(time.time())
            now = time.time()
            pipe = client.pipeline(transaction=False)
            for i in range(50):
                eid = f"{i:016x}"
                pipe.set(
                    f"bench-ls:hb:{eid}", blob.replace(seed.id.encode(), eid.encode()), px=60_000
                )
                pipe.zadd("bench-ls:engines", {eid: now})
            await pipe.execute()
        reader = FleetReader.from_url(url, "bench-ls")
        try:
            reads: list[Any] = []
            for _ in range(20 if quick else 100):
                t0 = time.perf_counter()
                rows = await reader.read()
                reads.append(time.perf_counter() - t0)
            assert len(rows) >= 50
        finally:
            await reader.close()
        sec.add(
            "ls --redis, 50 engines: one read",
            fmt_time(statistics.median(reads)),
            f"PING {fmt_time(ping)}",
            f"{statistics.median(reads) / ping:.0f}x",
            f"p99 {fmt_time(_pct(reads, 0.99))}; ZREVRANGE + MGET + decode; target < 100 ms",
        )
    finally:
        await client.aclose()
    return sec
