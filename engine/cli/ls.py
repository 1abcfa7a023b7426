"""``flowdeck ls [--json]``: the live engines of this host (discovered, never guessed)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from flowdeck.engine.cli.common import EXIT_OK, engine_table, fail, print_json, seconds
from flowdeck.engine.control import discovery as D


def _runs_of(stats: dict[str, Any]) -> tuple[float, float] | None:
    runs = (stats.get("workload") or {}).get("runs")
    t = stats.get("time")
    if isinstance(runs, int | float) and isinstance(t, int | float):
        return float(runs), float(t)
    return None


RATE_SPAN = 1.0  # seconds of stats the request rate is taken over
RATE_FRAMES = 9  # at most (at the default 0.25 s stats interval, 1 s is 5 frames)


async def request_rate(engine: D.LiveEngine, wait: float) -> float | None:
    """Flow runs per second over about ``RATE_SPAN`` s of ``stats`` notifications (stats
    only, no events): two frames are one stats interval apart (0.25 s by default),
    too short for a steady figure under bursty traffic."""
    frames = await D.stats_frames(engine.socket, RATE_FRAMES, wait, span=RATE_SPAN)
    samples = [r for r in map(_runs_of, frames) if r]
    if len(samples) < 2 or samples[-1][1] <= samples[0][1]:
        return None
    (r0, t0), (r1, t1) = samples[0], samples[-1]
    return max(0.0, (r1 - r0) / (t1 - t0))


async def _ls(as_json: bool, wait: float) -> int:
    try:
        engines = await D.discover(wait=wait)
    except D.DiscoveryError as exc:
        return fail("flowdeck ls", str(exc))
    rates = await asyncio.gather(*(request_rate(e, wait + RATE_SPAN + 1.0) for e in engines))
    by_id = {e.id: r for e, r in zip(engines, rates, strict=True) if r is not None}
    if as_json:
        print_json([{**e.row(), "req_per_s": by_id.get(e.id)} for e in engines])
    elif engines:
        print(engine_table(engines, by_id))
    else:
        print(f"no live engine on this host (looked in {D.runtime_dir()})")
    return EXIT_OK


def ls_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="flowdeck ls",
        description="List the live engines of this host: every socket in the runtime"
        f" directory ({D.runtime_dir()}) that answers; stale files of dead engines are"
        " removed.",
        epilog="Every host of a fleet instead: flowdeck ls --redis URL [--fleet NAME] [--json]"
        " (their heartbeats in Redis; --redis URL --help says more).",
    )
    parser.add_argument("--json", action="store_true", help="one JSON record per engine")
    parser.add_argument(
        "--timeout", type=seconds, default=D.PROBE_TIMEOUT, help="seconds per socket probe"
    )
    args = parser.parse_args(argv)
    return asyncio.run(_ls(args.json, args.timeout))
