"""Fleet on one host: discovery of 8 engines, and the panel's CPU watching 8 vs one.

Engines run as separate processes (``flowdeck serve --demo``) in a private runtime dir,
so their CPU is not this process's; the panel runs headless (``App.run_test``) here and
its CPU is this process's ``process_time`` over the same wall window.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Section, fmt_ratio, fmt_time, quantile

ROOT = Path(__file__).resolve().parents[1]
ENGINES = 8


def _start(base: Path, n: int) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    env["XDG_RUNTIME_DIR"] = str(base)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "flowdeck.engine", "serve", "--demo", "--concurrency", "2"]
    return [subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.DEVNULL) for _ in range(n)]


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each, wait, kill what hangs (shared with the Redis fleet bench)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def _panel_cpu(window: float, **kw: object) -> float:
    from flowdeck.panel.app import FlowdeckApp

    app = FlowdeckApp(refresh=0.5, **kw)  # type: ignore[arg-type]  # keyword args forwarded as given
    async with app.run_test(size=(120, 40)):
        await asyncio.sleep(2.0)  # attach / discover, first paint
        c0 = time.process_time()
        await asyncio.sleep(window)
        return (time.process_time() - c0) / window


def _pcts(values: list[float]) -> str:
    return " / ".join(f"{v * 100:.1f}%" for v in values)


async def bench_fleet(quick: bool) -> Section:
    from flowdeck.engine.control import discovery as D

    sec = Section("Fleet on one host")
    base = Path(tempfile.mkdtemp(prefix="fdb-", dir="/tmp"))
    os.environ["XDG_RUNTIME_DIR"] = str(base)  # this process discovers the private dir
    os.environ.pop("FLOWDECK_SOCKET", None)
    procs = _start(base, ENGINES)
    try:
        deadline = time.monotonic() + 60
        while len(await D.discover(base / "flowdeck")) < ENGINES:
            if time.monotonic() > deadline:
                raise RuntimeError("the bench engines did not start")
            await asyncio.sleep(0.2)
        samples = []
        for _ in range(10 if quick else 50):
            t0 = time.perf_counter()
            found = await D.discover(base / "flowdeck")
            samples.append(time.perf_counter() - t0)
            assert len(found) == ENGINES
        p50 = quantile(samples, 0.5)
        sec.add(
            f"discover() {ENGINES} engines, p50",
            fmt_time(p50),
            "50 ms",
            fmt_ratio(p50, 0.050),
            note=f"p95 {fmt_time(quantile(samples, 0.95))}; parallel hello probes",
        )
        window = 3.0 if quick else 10.0
        one = str(D.socket_name("demo", procs[0].pid))
        singles, fleets = [], []
        for _ in range(2):  # interleaved: a neighbour's burst lands on both sides
            singles.append(await _panel_cpu(window, socket=base / "flowdeck" / one, embed=False))
            fleets.append(await _panel_cpu(window))
        single, fleet = sum(singles) / 2, sum(fleets) / 2
        sec.add(
            "panel CPU attached to one engine",
            f"{single * 100:.1f}% of a core",
            note=f"two {window:.0f} s windows: {_pcts(singles)}",
        )
        sec.add(
            f"panel CPU, Fleet view of {ENGINES} engines",
            f"{fleet * 100:.1f}% of a core",
            "attached to one",
            fmt_ratio(fleet, single),
            note=f"target <= 1.5x; {_pcts(fleets)}; stats-only subscriptions, no event "
            "streams; only changed cells repaint",
        )
    finally:
        stop_all(procs)
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return sec
