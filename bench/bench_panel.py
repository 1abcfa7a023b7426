"""The panel's CPU on the Caches view by number of caches, beside a bare ControlClient.

The engine runs in its own process (``bench.many_caches``: N caches, ~4,000 runs/s,
about 5,000 events/s), so its CPU is not this process's. Two consumers of the same
engine alternate over equal wall windows: a bare ControlClient that subscribes to events
and stats and counts them (the floor: receiving and decoding), and the panel headless
(``App.run_test``) on the Caches view. CPU is this process's ``process_time``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Section, fmt_ratio
from flowdeck.engine.control.client import ControlClient

ROOT = Path(__file__).resolve().parents[1]
RATE = 4_000  # runs/s


async def _bare_cpu(path: Path, window: float) -> tuple[float, float]:
    """CPU (cores) and events/s of a bare consumer over ``window`` seconds."""
    client = await ControlClient.connect(path)
    try:
        await client.subscribe(events=True, stats=True)
        seen = 0
        c0, t0 = time.process_time(), time.monotonic()
        deadline = t0 + window

        async def count() -> None:
            nonlocal seen
            async for method, params in client.notifications():
                if method == "events":
                    seen += len(params["events"])

        task = asyncio.ensure_future(count())
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        cpu = (time.process_time() - c0) / window
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return cpu, seen / (time.monotonic() - t0)
    finally:
        await client.close()


async def _panel_cpu(path: Path, window: float) -> float:
    from flowdeck.panel.app import FlowdeckApp

    app = FlowdeckApp(refresh=0.5, socket=path, embed=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await asyncio.sleep(1.0)  # attach, snapshot, first paint
        await pilot.press("2")  # the Caches view
        await asyncio.sleep(1.0)
        c0 = time.process_time()
        await asyncio.sleep(window)
        return (time.process_time() - c0) / window


async def _one(caches: int, window: float, rounds: int) -> tuple[float, float, float]:
    base = Path(tempfile.mkdtemp(prefix="fdp-", dir="/tmp"))
    path = base / "engine.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.many_caches", str(path), str(caches), str(RATE),
        stdout=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"bench engine failed to start: {line!r}")
        bare: list[float] = []
        panel: list[float] = []
        rates: list[float] = []
        for _ in range(rounds):
            cpu, rate = await _bare_cpu(path, window)
            bare.append(cpu)
            rates.append(rate)
            panel.append(await _panel_cpu(path, window))
        return statistics.median(bare), statistics.median(panel), statistics.median(rates)
    finally:
        proc.kill()
        await proc.wait()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


async def bench_panel(quick: bool) -> Section:
    sec = Section("Panel: Caches view CPU by number of caches")
    window, rounds = (2.0, 1) if quick else (5.0, 3)
    for caches in (20, 200):
        bare, panel, rate = await _one(caches, window, rounds)
        sec.add(
            f"panel CPU, Caches view, {caches} caches",
            f"{panel * 100:.1f}% of a core",
            f"{bare * 100:.1f}% bare ControlClient (events + stats)",
            fmt_ratio(panel, bare),
            f"target <= 3x at 200 caches; ~{rate:,.0f} events/s; {rounds} alternating rounds "
            f"of {window:g} s",
        )
    return sec
