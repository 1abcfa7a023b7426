"""How the L1 hit cost and memory use grow with the number of entries."""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable
from typing import Any

from bench.harness import Section, fmt_time, per_op_async
from flowdeck.engine import Cache, Context, Engine, EngineSettings, Step


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _value(data: Any) -> str:
    return "v" * 32


async def bench_scaling(quick: bool) -> Section:
    sec = Section("Scaling: L1 with many entries")
    sizes = (1_000, 10_000, 100_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    async with Engine(EngineSettings.load(control=False)) as eng:
        ctx = Context(eng)
        for size in sizes:
            gc.collect()
            before = _rss()
            cache = Cache(Step(_value), name=f"bench-scale-{size}", ttl=3600, max_size=size)
            eng.add(cache)
            for i in range(size):
                await cache.execute({"prompt": f"p{i}"}, ctx)
            gc.collect()
            grown = _rss() - before
            probe = {"prompt": f"p{size // 2}"}

            def probe_hit(c: Cache = cache, p: dict[str, str] = probe) -> Awaitable[Any]:
                return c.execute(p, ctx)

            hit = await per_op_async(probe_hit, 5_000, 5)
            sec.add(
                f"{size:,} entries",
                fmt_time(hit) + " per hit",
                "",
                "",
                f"RSS +{grown / 1e6:.1f} MB ({grown / size:.0f} B/entry incl. key and value)",
            )
            await cache.flush()
    return sec
