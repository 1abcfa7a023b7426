"""Memory: search latency as the store grows; add throughput with and without Redis."""

from __future__ import annotations

import random
import statistics
import time

from bench.harness import Section, fmt_time
from flowdeck.engine import Engine, EngineSettings, Memory

_WORDS = [f"w{i}" for i in range(5_000)]


def _doc(rng: random.Random) -> dict[str, str]:
    return {"text": " ".join(rng.choice(_WORDS) for _ in range(12)), "role": "user"}


async def bench_memory(quick: bool, redis_url: str | None) -> Section:
    sec = Section("Memory")
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    rng = random.Random(9)
    async with Engine(EngineSettings.load(control=False)) as eng:
        for size in sizes:
            mem = Memory(name=f"bench-mem-{size}", namespace=f"b{size}", max_size=size)
            eng.add(mem)
            for i in range(size):
                await mem.add(f"k{i}", _doc(rng))
            queries = [[rng.choice(_WORDS), rng.choice(_WORDS)] for _ in range(200)]
            samples = []
            for q in queries:
                t0 = time.perf_counter()
                mem.search(q, limit=10)
                samples.append(time.perf_counter() - t0)
            sec.add(
                f"search 2 keywords over {size:,} entries",
                fmt_time(statistics.median(samples)),
                "",
                "",
                f"p95 {fmt_time(sorted(samples)[int(len(samples) * 0.95)])}; target < 1 ms at 100k",
            )
        n = 2_000 if quick else 20_000
        mem = Memory(name="bench-mem-add", namespace="badd", max_size=n)
        eng.add(mem)
        t0 = time.perf_counter()
        for i in range(n):
            await mem.add(f"k{i}", _doc(rng))
        local = n / (time.perf_counter() - t0)
        sec.add("add, in-process only", f"{local:,.0f} adds/s")
    if redis_url:
        async with Engine(EngineSettings.load(control=False, redis_url=redis_url)) as eng:
            n = 1_000 if quick else 5_000
            mem = Memory(name="bench-mem-l2", namespace="bench-l2", max_size=n, l2=True)
            eng.add(mem)
            await mem.clear()
            t0 = time.perf_counter()
            for i in range(n):
                await mem.add(f"k{i}", _doc(rng))
            rate = n / (time.perf_counter() - t0)
            await mem.clear()
        sec.add("add, write-through to Redis", f"{rate:,.0f} adds/s", "", "", "one round trip each")
    return sec
