"""The seed scenarios: the claims that motivated Flowdeck, reproduced at reduced scale.

Latencies are scaled down (``scale``) so a run takes seconds; ratios are what the
claims are about, and ratios do not depend on the scale.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.harness import Section
from flowdeck.engine import (
    Cache,
    Completion,
    Context,
    Engine,
    EngineSettings,
    Parallel,
    Router,
    Step,
)
from flowdeck.engine.demo import ZipfSampler, build_flows, demo_settings, make_prompts


def _sim(latency_s: float, price: float, scale: float, name: str) -> dict[str, Any]:
    """A deterministic simulated provider: fixed latency, a flat price per call.

    The simulated provider prices per 1k tokens; with ``tokens_out`` fixed at 1000 and
    no input price, one call costs exactly ``price``.
    """
    return {
        "kind": "simulated",
        "model": name,
        "latency_ms": latency_s * 1000 * scale,
        "latency_jitter": 0.0,
        "price_in": 0.0,
        "price_out": price,
        "tokens_out": 1000,
        "error_rate": 0.0,
    }


async def scenario_cache(scale: float) -> list[str]:
    """100 queries, 50% repeated, 2 s / $0.01 per uncached call."""
    settings = EngineSettings.load(
        control=False, providers={"model": _sim(2.0, 0.01, scale, "m")}, tiers={}
    )
    queries = [f"question {i}" for i in range(50)] * 2
    random.Random(3).shuffle(queries)
    async with Engine(settings) as eng:
        plain = eng.provider("model")
        cached = Cache(eng.provider("model"), name="seed-cache", ttl=3600, max_size=1000)
        eng.add(cached)
        ctx = Context(eng)
        t0 = time.perf_counter()
        cost_plain = 0.0
        for q in queries:
            cost_plain += (await plain.execute({"prompt": q}, ctx)).cost
        t_plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        cost_cached = 0.0
        for q in queries:
            before = cached.stats()["misses"]
            res = await cached.execute({"prompt": q}, ctx)
            if cached.stats()["misses"] > before:
                cost_cached += res.cost
        t_cached = time.perf_counter() - t0
    speedup = t_plain / t_cached
    saving = 1 - cost_cached / cost_plain if cost_plain else 0.0
    return [
        "100 queries, 50% repeated, 2 s / $0.01 per uncached call",
        "2x speedup, 50% cost saving",
        f"{speedup:.2f}x speedup ({t_plain / scale:.0f} s → {t_cached / scale:.0f} s at full "
        f"scale), {saving * 100:.0f}% cost saving (${cost_plain:.2f} → ${cost_cached:.2f})",
    ]


async def scenario_parallel(scale: float) -> list[str]:
    """Three independent 2.0 / 2.5 / 1.5 s calls plus a 0.1 s aggregation."""
    providers = {
        "m1": _sim(2.0, 0.0, scale, "m1"),
        "m2": _sim(2.5, 0.0, scale, "m2"),
        "m3": _sim(1.5, 0.0, scale, "m3"),
    }

    async def aggregate(results: list[Completion]) -> str:
        await asyncio.sleep(0.1 * scale)
        return " | ".join(r.text[:10] for r in results)

    async with Engine(EngineSettings.load(control=False, providers=providers)) as eng:
        ctx = Context(eng)
        calls = [eng.provider("m1"), eng.provider("m2"), eng.provider("m3")]
        data = {"prompt": "analyse this"}
        t0 = time.perf_counter()
        results = [await c.execute(data, ctx) for c in calls]
        await aggregate(results)
        t_seq = time.perf_counter() - t0
        flow = Parallel(calls, name="seed-par") >> Step(aggregate)
        eng.add(flow)
        t0 = time.perf_counter()
        await flow.execute(data, ctx)
        t_par = time.perf_counter() - t0
    return [
        "three 2.0 / 2.5 / 1.5 s calls + 0.1 s aggregation, sequential vs parallel",
        "6.1 s → 2.6 s (2.3x)",
        f"{t_seq / scale:.2f} s → {t_par / scale:.2f} s ({t_seq / t_par:.2f}x)",
    ]


async def scenario_routing(scale: float, requests: int) -> list[str]:
    """70% simple / 20% medium / 10% complex vs always using the top tier."""
    providers = {
        "small": _sim(0.8, 0.0005, scale, "small"),
        "medium": _sim(1.5, 0.005, scale, "medium"),
        "large": _sim(2.5, 0.01, scale, "large"),
    }
    rng = random.Random(5)
    kinds = ["simple"] * 70 + ["medium"] * 20 + ["complex"] * 10
    stream = [rng.choice(kinds) for _ in range(requests)]
    tier_of = {"simple": "small", "medium": "medium", "complex": "large"}
    async with Engine(EngineSettings.load(control=False, providers=providers)) as eng:
        router = Router(
            {t: eng.provider(t) for t in ("small", "medium", "large")},
            name="seed-router",
            select=lambda d: tier_of[d["kind"]],
        )
        top = eng.provider("large")
        eng.add(router)
        ctx = Context(eng)

        async def drive(prim: Any) -> tuple[float, float]:
            lat = 0.0
            cost = 0.0
            for i, k in enumerate(stream):
                t0 = time.perf_counter()
                res = await prim.execute({"prompt": f"{k} {i}", "kind": k}, ctx)
                lat += time.perf_counter() - t0
                cost += res.cost
            return lat / len(stream), cost

        lat_routed, cost_routed = await drive(router)
        lat_top, cost_top = await drive(top)
    return [
        "tiered routing 70/20/10 at 0.8/1.5/2.5 s, $0.0005/$0.005/$0.01 vs top tier only",
        "2.25x lower latency, 4.26x lower cost",
        f"{lat_top / lat_routed:.2f}x lower latency ({lat_top / scale:.2f} s → "
        f"{lat_routed / scale:.2f} s mean), {cost_top / cost_routed:.2f}x lower cost "
        f"(${cost_top:.3f} → ${cost_routed:.3f} for {len(stream)} requests)",
    ]


async def scenario_combined(requests: int) -> list[str]:
    """Cache + routing (the demo's chat flow) vs no cache and the top tier for everything."""
    settings = demo_settings(latency_scale=0.01, control=False)
    prompts = make_prompts()
    pick = ZipfSampler(len(prompts), seed=23)
    stream = [prompts[pick()] for _ in range(requests)]
    sem = asyncio.Semaphore(16)

    async def drive(eng: Engine, prim: Any) -> float:
        ctx = Context(eng)

        async def one(data: dict[str, Any]) -> float:
            async with sem:
                try:
                    res = await prim.execute(dict(data), ctx)
                except Exception:
                    return 0.0
                return float(getattr(res, "cost", 0.0))

        return sum(await asyncio.gather(*(one(d) for d in stream)))

    async with Engine(settings) as eng:
        flows = build_flows(eng)
        await drive(eng, flows.chat)
        spent = sum(p.health()["cost"] for p in eng.providers.values())
        hit_rate = flows.cache.stats()["hit_rate"]
        split = flows.router.stats()["routes"]
    async with Engine(settings) as eng:
        naive = await drive(eng, eng.provider("quality"))
    reduction = 1 - spent / naive if naive else 0.0
    shares = ", ".join(f"{r} {v['share'] * 100:.0f}%" for r, v in split.items())
    return [
        f"cache + routing on a Zipf prompt stream ({requests} requests of the demo's chat flow)",
        "60-80% total cost reduction",
        f"{reduction * 100:.0f}% lower cost than no cache + top tier (${naive:.3f} → "
        f"${spent:.3f}); hit rate {hit_rate * 100:.0f}%, misses routed {shares}",
    ]


async def bench_scenarios(quick: bool) -> Section:
    scale = 0.005 if quick else 0.02
    sec = Section("Seed scenarios (claim beside measurement)")
    rows = [
        await scenario_cache(scale),
        await scenario_parallel(scale),
        await scenario_routing(scale, 100 if quick else 300),
        await scenario_combined(400 if quick else 2000),
    ]
    for scenario, claim, measured in rows:
        sec.add(scenario, measured, claim, "", "")
    sec.text = (
        f"Latencies scaled by {scale} (and 0.01 for the demo workload) so the run takes "
        "seconds; times are shown at full scale. The 'baseline' column holds the claim."
    )
    return sec
