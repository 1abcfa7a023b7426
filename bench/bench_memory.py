"""Memory: search latency as the store grows; add throughput with and without Redis."""

from __future__ import annotations

import random
import statistics
import time

from bench.harness import Section, fmt_ratio, fmt_time
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
            t0 = time.perf_counter()
            for i in range(size):
                await mem.add(f"k{i}", _doc(rng))
            fill = size / (time.perf_counter() - t0)
            queries = [[rng.choice(_WORDS), rng.choice(_WORDS)] for _ in range(200)]
            # the same run's 1-keyword search (other words: as cold), interleaved
            ones = [[rng.choice(_WORDS)] for _ in range(200)]
            samples: list[float] = []
            singles: list[float] = []
            for q, q1 in zip(queries, ones, strict=True):
                t0 = time.perf_counter()
                mem.search(q, limit=10)
                t1 = time.perf_counter()
                mem.search(q1, limit=10)
                singles.append(time.perf_counter() - t1)
                samples.append(t1 - t0)
            two, one = statistics.median(samples), statistics.median(singles)
            sec.add(
                f"search 2 keywords over {size:,} entries",
                fmt_time(two),
                fmt_time(one) + " 1 keyword",
                fmt_ratio(two, one),
                f"p95 {fmt_time(sorted(samples)[int(len(samples) * 0.95)])}; "
                "target <= 50 µs at 100k (issue 13)",
            )
            if size == sizes[-1]:  # what the index costs an add once its lists are long
                sec.add(f"add, filling {size:,} entries", f"{fill:,.0f} adds/s")
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
