"""Streaming: the seed scenario's TTFT vs total, a cached stream's TTFT overhead, and the
per-delta cost of Router + Cache over reading the provider's stream directly."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncGenerator
from typing import Any

from bench.harness import Section, fmt_ratio, fmt_time, gc_paused
from flowdeck.engine import Cache, Engine, EngineSettings, Router
from flowdeck.engine.providers.request import validate_request

_perf = time.perf_counter
PROMPT = {"prompt": "Explain how a cache in front of a model router saves money."}


def _sim(**kw: Any) -> dict[str, Any]:
    return {"kind": "simulated", "latency_jitter": 0.0, "latency_ms": 0.0, **kw}


async def _seed(quick: bool, sec: Section) -> None:
    """Simulated 0.3 s to first token, 2.5 s total (a tenth of that with --quick)."""
    scale = 0.1 if quick else 1.0
    ttft_s, total_s = 0.3 * scale, 2.5 * scale
    async with Engine(EngineSettings.load(control=False, providers={"s": _sim()})) as eng:
        words = len((await eng.run(eng.provider("s"), PROMPT)).text.split(" "))
    tps = max(1.0, (words - 1) / (total_s - ttft_s))
    sim = _sim(ttft_ms=ttft_s * 1000, tokens_per_s=tps)
    async with Engine(EngineSettings.load(control=False, providers={"s": sim})) as eng:
        router = Router({"fast": eng.provider("s")}, name="tiers", select=lambda d: "fast")
        flow = Cache(router, name="llm", ttl=60, max_size=10)
        t0 = _perf()
        stream = eng.stream(flow, PROMPT)
        first = None
        async for _ in stream:
            if first is None:
                first = _perf() - t0
        total = _perf() - t0
    assert first is not None
    sec.add(
        f"seed scenario: first delta ({words} deltas)",
        fmt_time(first),
        fmt_time(total) + " total",
        fmt_ratio(total, first),
        f"claim: {ttft_s:g} s to first token, {total_s:g} s complete: 8.3x perceived",
    )


async def _first_of_hit(quick: bool, sec: Section) -> None:
    n, repeat = (500, 5) if quick else (5_000, 9)
    async with Engine(EngineSettings.load(control=False, providers={"s": _sim()})) as eng:
        router = Router({"fast": eng.provider("s")}, name="tiers", select=lambda d: "fast")
        flow = Cache(router, name="llm", ttl=3600, max_size=10)
        text = (await eng.run(flow, PROMPT)).text

        async def ours() -> None:
            stream = eng.stream(flow, PROMPT)
            await stream.__anext__()
            await stream.aclose()

        async def gen() -> AsyncGenerator[str, None]:
            yield text

        async def floor() -> None:
            it = gen()
            await it.__anext__()
            await it.aclose()

        t_ours = await _median(ours, n, repeat)
        t_floor = await _median(floor, n, repeat)
    sec.add(
        "cached stream (L1 hit, instant): call to first delta",
        fmt_time(t_ours),
        fmt_time(t_floor) + " (async generator, first item)",
        fmt_ratio(t_ours, t_floor),
        f"overhead {fmt_time(t_ours - t_floor)} per stream (budget < 20 µs)",
    )


async def _per_delta(quick: bool, sec: Section) -> None:
    repeat = 5 if quick else 9
    sim = _sim(tokens_out=4000)  # ~3000 deltas, no pacing: the cost is all code
    async with Engine(EngineSettings.load(control=False, providers={"s": sim})) as eng:
        router = Router({"fast": eng.provider("s")}, name="tiers", select=lambda d: "fast")
        flow = Cache(router, name="llm", ttl=3600, max_size=10)
        eng.add(flow)
        client = eng.providers["s"]
        req = validate_request({**PROMPT, "stream": True})
        direct, through = [], []
        count = 0
        for _ in range(repeat):
            with gc_paused():
                t0 = _perf()
                up = await client.open_stream(req)
                count = 0
                async for _ in up:
                    count += 1
                direct.append((_perf() - t0) / count)
                await flow.flush()
                t0 = _perf()
                async for _ in eng.stream(flow, PROMPT):
                    pass
                through.append((_perf() - t0) / count)
    d, t = statistics.median(direct), statistics.median(through)
    sec.add(
        f"per delta through Router + Cache (miss, recorded; {count} deltas)",
        fmt_time(t),
        fmt_time(d) + " (provider stream read directly)",
        fmt_ratio(t, d),
        f"overhead {fmt_time(t - d)} per delta (budget < 2 µs)",
    )


async def _median(fn: Any, n: int, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = _perf()
        for _ in range(n):
            await fn()
        samples.append((_perf() - t0) / n)
    await asyncio.sleep(0)
    return statistics.median(samples)


async def bench_streaming(quick: bool) -> Section:
    sec = Section("Streaming")
    await _seed(quick, sec)
    await _first_of_hit(quick, sec)
    await _per_delta(quick, sec)
    return sec
