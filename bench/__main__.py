"""``python -m bench [--quick] [--write | --output FILE]``: run every benchmark, print the table.

Run from a checkout (bench/ is not in the wheel; it uses tests/ helpers). The tracked
bench/RESULTS.md is written only with ``--write``, from a full run on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.harness import Section, render

RESULTS = Path(__file__).with_name("RESULTS.md")


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


async def _run(quick: bool, only: set[str] | None) -> list[Section]:
    from bench.bench_cache import bench_l1, bench_l2, bench_single_flight
    from bench.bench_fleet import bench_fleet
    from bench.bench_hotpath import bench_hotpath
    from bench.bench_memory import bench_memory
    from bench.bench_panel import bench_panel
    from bench.bench_redis_fleet import bench_redis_fleet
    from bench.bench_router_parallel import bench_parallel, bench_router
    from bench.bench_scaling import bench_scaling
    from bench.bench_scenarios import bench_scenarios
    from bench.bench_streaming import bench_streaming
    from bench.bench_telemetry import bench_telemetry
    from tests.support.redis_server import RedisServer, find_redis

    redis = None
    binary = find_redis()
    if binary:
        redis = RedisServer(binary)
        redis.start()
    url = redis.url if redis else None
    plan: list[tuple[str, Callable[[], Awaitable[Section]]]] = [
        ("cache", lambda: bench_l1(quick)),
        ("cache", lambda: bench_single_flight(quick)),
        ("cache", lambda: bench_hotpath(quick)),
        ("router", lambda: bench_router(quick)),
        ("parallel", lambda: bench_parallel(quick)),
        ("memory", lambda: bench_memory(quick, url)),
        ("telemetry", lambda: bench_telemetry(quick)),
        ("scaling", lambda: bench_scaling(quick)),
        ("scenarios", lambda: bench_scenarios(quick)),
        ("streaming", lambda: bench_streaming(quick)),
        ("fleet", lambda: bench_fleet(quick)),
        ("panel", lambda: bench_panel(quick)),
    ]
    if url:
        plan.insert(1, ("cache", lambda: bench_l2(quick, url)))
        plan.append(("redis-fleet", lambda: bench_redis_fleet(quick, url)))
    sections = []
    try:
        for group, make in plan:
            if only and group not in only:
                continue
            t0 = time.perf_counter()
            sec = await make()
            print(f"  {sec.title}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            sections.append(sec)
    finally:
        if redis:
            redis.stop()
    if not url:
        sections.append(Section("Redis", text="redis-server not found: L2 benchmarks skipped."))
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (seconds, not minutes)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated groups: cache,router,parallel,memory,telemetry,scaling,"
        "scenarios,streaming,fleet,redis-fleet,panel",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, default=None, help="also write the table to FILE")
    where.add_argument("--write", action="store_true", help=f"also write {RESULTS.name}")
    args = parser.parse_args(argv)
    only = {g.strip() for g in args.only.split(",") if g.strip()} or None
    t0 = time.perf_counter()
    sections = asyncio.run(_run(args.quick, only))
    header = (
        "# Benchmark results\n\n"
        f"`python -m bench{' --quick' if args.quick else ''}` on {time.strftime('%Y-%m-%d')}; "
        f"machine: {_machine()}; took {time.perf_counter() - t0:.0f} s.\n\n"
        "Each number is the median of repeated loops; each ratio compares against a baseline "
        "measured in the same process moments before."
    )
    text = render(sections, header)
    print(text)
    output = RESULTS if args.write else args.output
    if output is not None:
        output.write_text(text + "\n" + _kept(output))
        print(f"\nwritten to {output}", file=sys.stderr)
    return 0


KEPT = "<!-- kept by python -m bench: written by hand, below this line -->"
"""A results file's hand-written tail (ranges over several runs) survives a rewrite."""


def _kept(path: Path) -> str:
    """The part of ``path`` from the :data:`KEPT` marker on (empty without one)."""
    try:
        old = path.read_text()
    except OSError:
        return ""
    at = old.find(KEPT)
    return "\n" + old[at:] if at >= 0 else ""


if __name__ == "__main__":
    sys.exit(main())
