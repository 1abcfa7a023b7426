"""Backpressure: slow and stalled clients cost the engine nothing and get disconnected."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from flowdeck.engine import Engine
from flowdeck.engine.control.client import ControlClient
from tests.support.control import RawConn, build_flows, burst, control_settings


def stalled_subscriber(path: Path) -> socket.socket:
    """A client that subscribes and then never reads a byte (small receive buffer)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(str(path))
    s.sendall(msgpack.packb([0, 1, "subscribe", {"events": True, "stats": True}]))
    s.setblocking(False)
    return s


def drained_to_eof(s: socket.socket) -> bool:
    """Read whatever is buffered; True when the peer has closed the stream."""
    s.setblocking(True)
    s.settimeout(5)
    try:
        while s.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    return True


async def produce_until(predicate: Any, produce: Any, deadline: float = 20.0) -> None:
    """Keep producing load until ``predicate()`` holds (fails after ``deadline`` s)."""
    end = time.monotonic() + deadline
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        await produce()


async def test_never_reading_client_is_disconnected(sock_path: Path) -> None:
    eng = Engine(control_settings(sock_path, event_ring=1024))
    flows = build_flows(eng)
    async with eng:
        good = await ControlClient.connect(sock_path)
        s = stalled_subscriber(sock_path)
        try:

            async def produce() -> None:
                await burst(eng, flows["plain"], 200)
                await asyncio.sleep(0.002)

            await produce_until(lambda: eng.control.disconnected >= 1, produce)
            assert len(eng.control.clients) == 1  # only the good client is left
            assert await asyncio.to_thread(drained_to_eof, s)  # (blocking reads: a thread)
            assert (await good.hello())["clients"] == 1
        finally:
            s.close()
            await good.close()


async def test_hard_limit_on_unread_responses(sock_path: Path) -> None:
    eng = Engine(control_settings(sock_path))
    build_flows(eng)
    async with eng:
        eng.control.hard_limit = 64 << 10
        raw = await RawConn.open(sock_path)
        transport = raw.writer.transport
        assert isinstance(transport, asyncio.Transport)  # a socket's: it reads as well
        transport.pause_reading()  # read nothing, on purpose
        data = b"".join(msgpack.packb([0, i, "snapshot", {}]) for i in range(400))
        raw.writer.write(data)
        await raw.writer.drain()
        # Each snapshot is a few KiB: 400 unread answers pass 64 KiB. (There is no event
        # to await for a disconnection, so poll the server's counter.)
        for _ in range(4000):
            if eng.control.disconnected:
                break
            await asyncio.sleep(0.005)
        assert eng.control.disconnected == 1
        transport.resume_reading()
        assert await raw.closed_by_server()
        await raw.close()
        c = await ControlClient.connect(sock_path)
        assert (await c.hello())["name"] == "ctl-test"
        await c.close()


async def _throughput(eng: Engine, flow: Any, runs: int) -> float:
    """Runs per second of ``flow``, yielding to the loop every 50 runs (as real traffic does)."""
    t0 = time.perf_counter()
    for i in range(0, runs, 50):
        for j in range(50):
            await eng.run(flow, i + j)
        await asyncio.sleep(0)
    return runs / (time.perf_counter() - t0)


async def test_stalled_subscriber_does_not_slow_the_engine(sock_path: Path) -> None:
    eng = Engine(control_settings(sock_path))
    flows = build_flows(eng)
    flow = flows["plain"] >> flows["fan"]  # 1 route + 2 branch + 1 run events per request
    async with eng:
        await _throughput(eng, flow, 1000)  # warm up
        base, stalled = [], []
        for _ in range(3):  # interleaved, best of three: the machine may be busy
            base.append(await _throughput(eng, flow, 3000))
            s = stalled_subscriber(sock_path)
            try:
                stalled.append(await _throughput(eng, flow, 3000))
            finally:
                s.close()
        b, st = max(base), max(stalled)
        print(f"\nworkload runs/s: no subscriber {b:,.0f}; one stalled subscriber {st:,.0f}"
              f" ({st / b:.2%})")  # fmt: skip
        assert st > 0.5 * b  # generous: the real ratio is in the report


@pytest.mark.parametrize("subscribers", [1, 2])
async def test_live_subscribers_keep_up(sock_path: Path, subscribers: int) -> None:
    """Readers that keep up see every event, with no drop, while the workload runs."""
    eng = Engine(control_settings(sock_path))
    flows = build_flows(eng)
    async with eng:
        clients = [await ControlClient.connect(sock_path) for _ in range(subscribers)]
        for c in clients:
            await c.subscribe(stats=False)
        start = eng.bus.seq

        async def count(c: ControlClient, until_seq: int) -> int:
            seen = 0
            async for m, p in c.notifications():
                assert m != "dropped"
                if m == "events":
                    seen += len(p["events"])
                    if p["events"][-1][0] >= until_seq:
                        return seen
            return seen

        await _throughput(eng, flows["plain"] >> flows["fan"], 5000)
        end = eng.bus.seq
        counts = await asyncio.wait_for(asyncio.gather(*(count(c, end) for c in clients)), 20)
        assert counts == [end - start] * subscribers
        for c in clients:
            await c.close()
