"""The fleet through Redis: heartbeat cost, fleet command round trip, ``ls --redis``.

Engines run as separate processes (``bench.fleet_worker``) on the bench's own
redis-server, so their CPU is read from ``/proc`` and the round trip crosses real
processes (PUBLISH -> each engine -> RPUSH -> the sender's BLPOP). ``ls --redis`` reads
50 heartbeats written in the engines' own format (50 engine processes would not fit
this machine), once through :class:`FleetReader` and once as the real command.
Baselines are a plain Redis PING on the same server moments before.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.bench_fleet import stop_all
from bench.harness import Section, fmt_time
from flowdeck.engine import Cache, Engine, EngineSettings, Step
from flowdeck.engine.fleet.reader import FleetReader
from flowdeck.engine.fleet.sender import FleetSender

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
BEAT_COMMANDS = ("set", "zadd", "zremrangebyscore")


def _pct(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(len(samples) * q))]


def _workers(url: str, fleet: str, caches: int, interval: float, n: int) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "bench.fleet_worker", url, fleet]
    return [
        subprocess.Popen(
            [*cmd, f"h{i}", str(caches), str(interval)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for i in range(n)
    ]


async def _ready(procs: list[Any]) -> None:
    def wait(p: Any) -> None:
        line = p.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"a bench fleet worker did not start (exit {p.poll()})")

    await asyncio.gather(*(asyncio.to_thread(wait, p) for p in procs))


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _calls(client: Any) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in BEAT_COMMANDS}


async def bench_redis_fleet(quick: bool, url: str) -> Section:
    sec = Section("Fleet through Redis")
    client = aioredis.Redis.from_url(url)
    try:
        pings = []
        for _ in range(200):
            t0 = time.perf_counter()
            await client.ping()
            pings.append(time.perf_counter() - t0)
        ping = statistics.median(pings)
        await _heartbeat_rows(sec, client, url, ping, quick)
        await _command_rows(sec, url, ping, quick)
        await _ls_rows(sec, client, url, ping, quick)
    finally:
        await client.aclose()
    return sec


def _engine_with_caches(url: str, fleet: str, host: str, caches: int) -> Engine:
    """An engine (no control socket) on ``fleet`` with ``caches`` small caches: what a
    heartbeat carries grows with them."""
    eng = Engine(EngineSettings.load(redis_url=url, fleet=fleet, control=False, host=host))
    for i in range(caches):
        eng.add(Cache(Step(lambda d: d), name=f"c{i}", ttl=60, max_size=100))
    return eng


async def _heartbeat_rows(sec: Section, client: Any, url: str, ping: float, quick: bool) -> None:
    # Per beat, in this process: the payload of 20 caches plus one pipelined round trip.
    eng = _engine_with_caches(url, "bench-hb1", "bench", 20)
    async with eng:
        hb = eng.fleet.heartbeat
        assert hb is not None
        n = 50 if quick else 300
        started = time.process_time()
        for _ in range(n):
            await hb.beat()
        per_beat = (time.process_time() - started) / n
    sec.add(
        "heartbeat, 20 caches: engine CPU per beat",
        fmt_time(per_beat),
        f"PING {fmt_time(ping)}",
        f"{per_beat:.2%} of a core at 1 s",
        "payload + one pipelined round trip, measured in this process",
    )
    # Real processes, idle, 20 caches each: one beating every 1 s, one every 60 s (it
    # beats once at start, not in the window); their CPU from /proc, Redis's own counts.
    procs = _workers(url, "bench-hb", 20, 1.0, 1) + _workers(url, "bench-hb-off", 20, 60.0, 1)
    try:
        await _ready(procs)
        await asyncio.sleep(1.5)
        window = 5.0 if quick else 20.0
        c0, cpu0, t0 = await _calls(client), [_cpu(p.pid) for p in procs], time.monotonic()
        await asyncio.sleep(window)
        c1, cpu1, wall = await _calls(client), [_cpu(p.pid) for p in procs], time.monotonic() - t0
    finally:
        stop_all(procs)
    on, off = ((b - a) / wall for a, b in zip(cpu0, cpu1, strict=True))
    per_s = {c: (c1[c] - c0[c]) / wall for c in BEAT_COMMANDS}
    sec.add(
        "heartbeat, 20 caches: idle engine process CPU, 1 s beats",
        f"{on:.2%} of a core",
        f"{off:.2%} without beats",
        f"{(on - off):+.2%}",
        f"target < 1%; /proc over {window:.0f} s (tick {1000 / TICK:.0f} ms); Redis saw "
        + ", ".join(f"{c.upper()} {v:.1f}/s" for c, v in per_s.items()),
    )


async def _command_rows(sec: Section, url: str, ping: float, quick: bool) -> None:
    procs = _workers(url, "bench-cmd", 1, 1.0, 8)
    try:
        await _ready(procs)
        sender = FleetSender.from_url(url, "bench-cmd")
        try:
            deadline = time.monotonic() + 30
            while len(await sender.reader.read()) < 8:  # every heartbeat is in
                if time.monotonic() > deadline:
                    raise RuntimeError("the 8 bench engines did not all beat")
                await asyncio.sleep(0.2)
            samples = []
            for i in range(30 if quick else 200):
                t0 = time.perf_counter()
                report = await sender.send("cache.set_max_size", {"name": "c0", "max_size": 50 + i})
                samples.append(time.perf_counter() - t0)
                assert report.ok and len(report.expected) == 8, report.summary()
        finally:
            await sender.close()
    finally:
        stop_all(procs)
    p50 = statistics.median(samples)
    sec.add(
        "fleet command to 8 engine processes, round trip p50",
        fmt_time(p50),
        f"PING {fmt_time(ping)}",
        f"{p50 / ping:.0f}x",
        f"p99 {fmt_time(_pct(samples, 0.99))}; target p99 < 50 ms; every answer awaited; "
        "includes the heartbeat read, the override write and the audit XADD",
    )


async def _ls_rows(sec: Section, client: Any, url: str, ping: float, quick: bool) -> None:
    eng = _engine_with_caches(url, "bench-ls", "seed", 5)
    async with eng:
        hb = eng.fleet.heartbeat
        assert hb is not None
        blob, seed, now = hb.payload(time.time()), eng.id, time.time()
    pipe = client.pipeline(transaction=False)
    for i in range(50):
        eid = f"{i:016x}"
        pipe.set(f"bench-ls:hb:{eid}", blob.replace(seed.encode(), eid.encode()), px=120_000)
        pipe.zadd("bench-ls:engines", {eid: now})
    await pipe.execute()
    reader = FleetReader.from_url(url, "bench-ls")
    try:
        assert len(await reader.read()) >= 50  # connects: not part of a read
        reads = []
        for _ in range(20 if quick else 100):
            t0 = time.perf_counter()
            rows = await reader.read()
            reads.append(time.perf_counter() - t0)
        assert len(rows) >= 50
    finally:
        await reader.close()
    sec.add(
        "ls --redis, 50 engines: one read",
        fmt_time(statistics.median(reads)),
        f"PING {fmt_time(ping)}",
        f"{statistics.median(reads) / ping:.0f}x",
        f"p99 {fmt_time(_pct(reads, 0.99))}; ZREVRANGE + MGET + decode; target < 100 ms",
    )
    flowdeck = [sys.executable, "-m", "flowdeck.engine"]
    cli: list[float] = []
    bare: list[float] = []
    for _ in range(3 if quick else 10):
        listing = [*flowdeck, "ls", "--redis", url, "--fleet", "bench-ls"]
        for argv, out in (([sys.executable, "-c", "pass"], bare), (listing, cli)):
            t0 = time.perf_counter()
            done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, cwd=ROOT)
            out.append(time.perf_counter() - t0)
            assert done.returncode == 0, done.stderr
    p50, base = statistics.median(cli), statistics.median(bare)
    sec.add(
        "`flowdeck ls --redis`, 50 engines: the command, wall",
        fmt_time(p50),
        f"`python -c pass` {fmt_time(base)}",
        f"+{fmt_time(max(0.0, p50 - base))}",
        "target < 100 ms; a new Python process each time, beside a bare interpreter start; "
        "the listing reads with engine/fleet/resp.py (neither redis-py nor asyncio is "
        "imported), the read itself is the row above",
    )
