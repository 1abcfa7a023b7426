"""Router decision overhead and Parallel overhead / speedup."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable
from typing import Any

from bench.harness import Section, fmt_ratio, fmt_time, per_op_async
from flowdeck.engine import Context, Engine, EngineSettings, Parallel, Router, Step


async def _const(data: object) -> str:
    return "ok"


async def bench_router(quick: bool) -> Section:
    sec = Section("Router")
    n, repeat = (5_000, 5) if quick else (50_000, 7)
    async with Engine(EngineSettings.load(control=False)) as eng:
        route = Step(_const, name="fast")
        router = Router(
            {"fast": route, "slow": Step(_const, name="slow")},
            name="bench-router",
            select=lambda d: "fast",
        )
        eng.add(router)
        ctx = Context(eng)
        data = {"prompt": "hi"}
        direct = await per_op_async(lambda: route.execute(data, ctx), n, repeat)
        routed = await per_op_async(lambda: router.execute(data, ctx), n, repeat)
        sec.add(
            "route decision overhead (router minus direct call)",
            fmt_time(routed - direct),
            fmt_time(direct) + " direct call",
            fmt_ratio(routed, direct),
            "target < 2 µs; includes stats, latency window and one event",
        )
        router.pin("slow")
        pinned = await per_op_async(lambda: router.execute(data, ctx), n, repeat)
        sec.add("pinned route overhead", fmt_time(pinned - direct), "", fmt_ratio(pinned, direct))
        await _bench_weights(sec, eng, ctx, n, repeat)
    return sec


async def _bench_weights(sec: Section, eng: Engine, ctx: Context, n: int, repeat: int) -> None:
    """Weighted (90/10) and weighted + sticky routers beside the plain selector, in
    interleaved rounds (each round measures all three; medians), so drift hits all alike."""
    routes = {"fast": Step(_const, name="fast"), "slow": Step(_const, name="slow")}
    plain = Router(dict(routes), name="bench-plain", select=lambda d: d["tier"])
    weighted = Router(dict(routes), name="bench-weighted", weights={"fast": 90, "slow": 10})
    sticky = Router(
        dict(routes), name="bench-sticky", weights={"fast": 90, "slow": 10}, key=lambda d: d["user"]
    )
    for r in (plain, weighted, sticky):
        eng.add(r)
    data = {"prompt": "hi", "tier": "fast", "user": "user-12345"}
    got: dict[str, list[float]] = {"plain": [], "weighted": [], "sticky": []}
    for _ in range(repeat * 2):
        for label, r in (("plain", plain), ("weighted", weighted), ("sticky", sticky)):

            def routed(r: Router = r) -> Awaitable[Any]:
                return r.execute(data, ctx)

            got[label].append(await per_op_async(routed, n, 1))
    med = {k: statistics.median(v) for k, v in got.items()}
    for label, what in (("weighted", "90/10 weights"), ("sticky", "90/10 weights + sticky key")):
        sec.add(
            f"router with {what}",
            fmt_time(med[label]),
            fmt_time(med["plain"]) + " plain selector",
            fmt_ratio(med[label], med["plain"]),
            "target <= 1.3x; whole execute (decision, stats, event); interleaved rounds",
        )


async def bench_parallel(quick: bool) -> Section:
    sec = Section("Parallel")
    n, repeat = (1_000, 5) if quick else (10_000, 7)

    async def a(d: object) -> int:
        return 1

    async def b(d: object) -> int:
        return 2

    async def c(d: object) -> int:
        return 3

    async with Engine(EngineSettings.load(control=False)) as eng:
        par = Parallel([Step(a), Step(b), Step(c)], name="bench-par")
        eng.add(par)
        ctx = Context(eng)
        raw = await per_op_async(lambda: asyncio.gather(a(None), b(None), c(None)), n, repeat)
        ours = await per_op_async(lambda: par.execute(None, ctx), n, repeat)
        sec.add(
            "3 instant branches",
            fmt_time(ours),
            fmt_time(raw) + " asyncio.gather",
            fmt_ratio(ours, raw),
            "target < 1.3x; includes timeline + 4 events",
        )

        nap = 0.02 if quick else 0.1

        async def sleeper(d: object) -> None:
            await asyncio.sleep(nap)

        ten = Parallel([Step(sleeper, name=f"b{i}") for i in range(10)], name="bench-ten")
        eng.add(ten)
        t0 = time.perf_counter()
        await ten.execute(None, ctx)
        wall = time.perf_counter() - t0
        sequential = 10 * nap
        sec.add(
            f"10 branches of {nap * 1000:.0f} ms",
            fmt_time(wall),
            fmt_time(sequential) + " sequential",
            f"{sequential / wall:.2f}x speedup",
            "should be close to 10x",
        )
    return sec
