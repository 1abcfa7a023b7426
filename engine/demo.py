"""The demo workload: realistic traffic over simulated providers.

A cache in front of a complexity-based tier router, a parallel fan-out of three
providers with a merge step, and memory-backed conversations. Prompts are drawn from a
Zipf-like distribution so some are asked again and again (like real traffic) and hit
rates land around 50-80%. ``flowdeck demo --duration 10`` runs it headless and
prints a summary; ``flowdeck serve --demo`` and the panel's embedded mode run
it behind the control socket.

Longer than most modules: the flows, the traffic mix and the headless runner are one
scenario, read top to bottom.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.completion import Completion
from flowdeck.engine.context import Context
from flowdeck.engine.engine import Engine
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.primitives import Cache, Memory, Parallel, Primitive, Router, Step
from flowdeck.engine.settings import EngineSettings

# Median latency (ms) and price (USD per 1k tokens, in / out) of each simulated model.
_MODELS: dict[str, tuple[str, float, float, float, float]] = {
    # name: (model, latency_ms, price_in, price_out, error_rate)
    "sim-mini": ("mini-1", 120.0, 0.00015, 0.0006, 0.002),
    "sim-mid": ("mid-2", 450.0, 0.0025, 0.01, 0.004),
    "sim-max": ("max-3", 1400.0, 0.01, 0.03, 0.006),
    "sim-max-b": ("max-3b", 1600.0, 0.012, 0.036, 0.006),
    "sim-alpha": ("alpha-1", 300.0, 0.001, 0.002, 0.01),
    "sim-beta": ("beta-1", 380.0, 0.0012, 0.0025, 0.01),
    "sim-gamma": ("gamma-1", 520.0, 0.0008, 0.0016, 0.02),
}

CATALOGUE = 100_000  # distinct prompts the demo draws from

TIERS: dict[str, list[str]] = {
    "fast": ["sim-mini"],
    "balanced": ["sim-mid", "sim-mini"],
    "quality": ["sim-max", "sim-max-b", "sim-mid"],
}

_TOPICS = [
    "caching",
    "vector search",
    "rate limits",
    "retries",
    "prompt design",
    "token budgets",
    "latency",
    "streaming",
    "batching",
    "observability",
    "fallbacks",
    "cost control",
    "embeddings",
    "evaluation",
    "guardrails",
    "routing",
    "tool calls",
    "context windows",
    "fine-tuning",
    "summaries",
]
_SIMPLE = ["What is {t}?", "Define {t}.", "Give one tip about {t}.", "Is {t} hard?"]
_MEDIUM = [
    "Explain how {t} works in an LLM service and when to use it.",
    "Compare two approaches to {t} and list their trade-offs.",
    "Write a short checklist for {t} in production.",
]
_COMPLEX = [
    "Design a multi-region architecture that uses {t} and {u}, analyse failure modes, "
    "and propose metrics to verify it step by step.",
    "Derive a cost model for {t} combined with {u} under bursty traffic and justify "
    "each assumption with an example calculation.",
]


STREAMED_SHARE = 0.3
"""Share of all requests that stream (taken from the chat flow's 70%)."""


def demo_settings(latency_scale: float = 1.0, **overrides: Any) -> EngineSettings:
    """Settings with the simulated providers and tiers the demo uses.

    ``latency_scale`` multiplies every simulated latency (0.01 makes a 1.4 s model
    answer in 14 ms: the traffic shape stays, the run gets shorter).
    """
    if latency_scale < 0:
        raise ValueError(f"latency_scale must be >= 0, got {latency_scale!r}")
    providers = {
        name: {
            "kind": "simulated",
            "model": model,
            "latency_ms": lat * latency_scale,
            "price_in": pin,
            "price_out": pout,
            "error_rate": err,
            "latency_jitter": 0.35,
            "cooldown": 5.0,
            # streamed answers: the first word after the latency draw, then 80 words/s
            "tokens_per_s": min(1e6, 80.0 / latency_scale) if latency_scale > 0 else None,
        }
        for name, (model, lat, pin, pout, err) in _MODELS.items()
    }
    base: dict[str, Any] = {
        "name": "demo",
        "providers": providers,
        "tiers": TIERS,
        "caches": {},
    }
    base.update(overrides)
    return EngineSettings.load(**base)


def prompt_for(index: int, seed: int = 7) -> dict[str, Any]:
    """Prompt number ``index`` of an unbounded, deterministic catalogue.

    70% simple, 20% medium, 10% complex; the same index always gives the same prompt.
    """
    rng = random.Random(index * 2_654_435_761 + seed)
    t, u = rng.sample(_TOPICS, 2)
    r = rng.random()
    if r < 0.7:
        text = rng.choice(_SIMPLE).format(t=t)
    elif r < 0.9:
        text = rng.choice(_MEDIUM).format(t=t)
    else:
        text = rng.choice(_COMPLEX).format(t=t, u=u)
    return {"prompt": f"{text} (#{index})", "user": f"u{rng.randrange(40)}"}


def make_prompts(count: int = 400, seed: int = 7) -> list[dict[str, Any]]:
    """The first ``count`` prompts of the catalogue."""
    return [prompt_for(i, seed) for i in range(count)]


class ZipfSampler:
    """Draws indices 0..n-1 with P(i) proportional to 1/(i+1)^s.

    With a catalogue much larger than the cache, the steady-state hit rate is set by
    the shape of the distribution, not by how long the run lasts (for n=100,000, s=1.0
    and a 5,000-entry LRU, about 70-75% once warm).
    """

    _cdfs: dict[tuple[int, float], list[float]] = {}

    def __init__(self, n: int, s: float = 1.0, seed: int = 11) -> None:
        key = (n, s)
        cdf = self._cdfs.get(key)
        if cdf is None:
            weights = [1.0 / (i + 1) ** s for i in range(n)]
            total = sum(weights)
            acc = 0.0
            cdf = []
            for w in weights:
                acc += w / total
                cdf.append(acc)
            self._cdfs[key] = cdf
        self._cdf = cdf
        self._rng = random.Random(seed)

    def __call__(self) -> int:
        return min(bisect.bisect_left(self._cdf, self._rng.random()), len(self._cdf) - 1)


def by_complexity(data: dict[str, Any]) -> str:
    """Route by a cheap estimate of how hard the prompt is."""
    words = len(str(data.get("prompt", "")).split())
    if words <= 8:
        return "fast"
    if words <= 16:
        return "balanced"
    return "quality"


def normalize(data: Any) -> dict[str, Any]:
    """Accept a string or a request dict; collapse whitespace so equal prompts share a key."""
    if isinstance(data, str):
        data = {"prompt": data}
    prompt = " ".join(str(data.get("prompt", "")).split())
    return {"prompt": prompt}


def merge_best(results: list[Any]) -> Completion:
    """Pick the longest answer of the fan-out; its cost is the sum of all branches."""
    done = [r for r in results if isinstance(r, Completion)]
    if not done:
        raise RuntimeError("every fan-out branch failed")
    best = max(done, key=lambda c: len(c.text))
    return Completion(
        text=best.text,
        model=best.model,
        provider="+".join(c.provider for c in done),
        tokens_in=sum(c.tokens_in for c in done),
        tokens_out=sum(c.tokens_out for c in done),
        cost=sum(c.cost for c in done),
        latency=max(c.latency for c in done),
    )


@dataclass
class DemoFlows:
    """The flows the demo drives, built once per engine."""

    chat: Primitive
    fanout: Primitive
    conversation: Primitive
    memory: Memory
    cache: Cache
    router: Router


def build_flows(eng: Engine) -> DemoFlows:
    use_l2 = eng.settings.redis_url is not None
    router = Router(
        {tier: eng.provider(tier) for tier in TIERS},
        name="tiers",
        select=by_complexity,
        default="balanced",
    )
    cache = Cache(router, name="llm", ttl=600, max_size=5_000, l2=use_l2)
    chat = Step(normalize) >> cache
    fanout = Step(normalize) >> Cache(
        Parallel(
            [eng.provider("sim-alpha"), eng.provider("sim-beta"), eng.provider("sim-gamma")],
            name="fanout",
            fail="collect",
        )
        >> Step(merge_best),
        name="fanout-cache",
        ttl=300,
        max_size=2_000,
        l2=use_l2,
    )
    memory = Memory(name="conversations", namespace="demo", max_size=5_000, l2=use_l2)
    conversation = Step(normalize) >> memory >> Step(_strip_memory) >> cache
    for flow in (chat, fanout, conversation):
        eng.add(flow)
    return DemoFlows(chat, fanout, conversation, memory, cache, router)


def _strip_memory(data: dict[str, Any]) -> dict[str, Any]:
    """Keep the recalled context out of the cache key: the prompt alone identifies it."""
    return {"prompt": data["prompt"]}


@dataclass
class DemoStats:
    """What the headless demo prints at the end."""

    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)


async def run_demo(
    eng: Engine,
    *,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    concurrency: int = 8,
    seed: int = 1,
    flows: DemoFlows | None = None,
    stats: DemoStats | None = None,
) -> DemoStats:
    """Drive traffic until ``duration`` passes or ``stop`` is set.

    Simulated latencies are set when the engine is built: see :func:`demo_settings`.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    flows = flows or build_flows(eng)
    stats = stats or DemoStats()
    stop = stop or asyncio.Event()
    deadline = None if duration is None else time.perf_counter() + duration

    async def worker(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        pick = ZipfSampler(CATALOGUE, seed=seed * 7919 + i)
        while not stop.is_set():
            if deadline is not None and time.perf_counter() >= deadline:
                return
            data = prompt_for(pick())
            r = rng.random()
            flow = flows.chat if r < 0.7 else flows.conversation if r < 0.9 else flows.fanout
            t0 = time.perf_counter()
            try:
                if r < STREAMED_SHARE:  # part of the chat traffic streams (TTFT in the panel)
                    stream = eng.stream(flow, dict(data), Context(eng, user=data["user"]))
                    async for _ in stream:
                        pass
                else:
                    await eng.run(flow, dict(data), Context(eng, user=data["user"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                stats.errors += 1
            stats.requests += 1
            stats.latencies.append(time.perf_counter() - t0)
            if len(stats.latencies) > 200_000:
                del stats.latencies[:100_000]
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    try:
        if deadline is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stats


def summary_rows(eng: Engine, stats: DemoStats) -> list[tuple[str, str]]:
    """The summary as (label, value) rows."""
    wall = time.perf_counter() - stats.started
    lat = sorted(stats.latencies)

    def q(p: float) -> str:
        if not lat:
            return "-"
        return f"{lat[min(len(lat) - 1, int(p * len(lat)))] * 1000:.1f} ms"

    rows = [
        ("requests", f"{stats.requests} ({stats.requests / wall:.0f}/s over {wall:.1f} s)"),
        ("errors", str(stats.errors)),
        ("latency p50 / p95", f"{q(0.5)} / {q(0.95)}"),
    ]
    total_cost = sum(p.health()["cost"] for p in eng.providers.values())
    saved = 0.0
    for name, cache in eng.caches.items():
        st = cache.stats()
        saved += st["cost_saved"]
        rows.append(
            (
                f"cache {name}",
                f"hit rate {st['hit_rate'] * 100:.1f}% ({st['hits']} hits, {st['misses']} misses,"
                f" {st['coalesced']} coalesced), saved {st['time_saved']:.1f} s",
            )
        )
    for name, router in eng.routers.items():
        st = router.stats()
        split = ", ".join(f"{r} {v['share'] * 100:.0f}%" for r, v in st["routes"].items())
        rows.append((f"router {name}", split))
    if eng.redis is not None:
        r = eng.redis.describe()
        if r["up"]:
            rows.append(("redis", f"{r['url']} up, {r['errors']} errors"))
        else:
            why = eng.redis.last_error or "not connected"
            rows.append(("redis", f"{r['url']} DOWN: ran with L1 only ({why})"))
    rows.append(("cost (providers)", f"${total_cost:.4f}"))
    denom = total_cost + saved
    pct = f" ({saved / denom * 100:.0f}% of would-be cost)" if denom > 0 else ""
    rows.append(("cost saved (cache)", f"${saved:.4f}{pct}"))
    return rows


def format_table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


async def demo_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="flowdeck demo", description="Run the demo workload headless."
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run (>0)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--latency-scale", type=float, default=0.05, help="multiply simulated latencies"
    )
    parser.add_argument("--redis-url", default=None, help="use Redis for L2 and memory")
    parser.add_argument("--socket", default=None, help="also serve the control socket here")
    args = parser.parse_args(argv)
    if not args.duration > 0:
        parser.error(f"--duration must be > 0, got {args.duration}")
    if args.concurrency < 1:
        parser.error(f"--concurrency must be >= 1, got {args.concurrency}")
    if not args.latency_scale >= 0:
        parser.error(f"--latency-scale must be >= 0, got {args.latency_scale}")
    overrides: dict[str, Any] = {"control": args.socket is not None}
    if args.socket:
        overrides["socket"] = args.socket
    if args.redis_url:
        overrides["redis_url"] = args.redis_url
    try:
        settings = demo_settings(args.latency_scale, **overrides)
    except FlowdeckError as exc:
        print(f"flowdeck demo: {exc}", file=sys.stderr)
        return 2
    eng = Engine(settings)
    try:
        await eng.start()
    except (FlowdeckError, OSError) as exc:
        print(f"flowdeck demo: {exc}", file=sys.stderr)
        return 1
    try:
        stats = await run_demo(eng, duration=args.duration, concurrency=args.concurrency)
        print(format_table(summary_rows(eng, stats)))
    finally:
        await eng.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(demo_main(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
