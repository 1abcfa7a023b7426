"""LiveClient: snapshot + deltas, resync on a gap, reconnect with backoff, close."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine import Engine
from flowdeck.engine.control.client import (
    ConnectionLost,
    ControlClient,
    ControlError,
    LiveClient,
    Update,
)
from tests.support.control import build_flows, burst, control_settings


class Feed:
    """Runs ``async for`` over a LiveClient in a task; the test awaits what it needs."""

    def __init__(self, live: LiveClient) -> None:
        self.live = live
        self.queue: asyncio.Queue[Update] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())
        self.ended = asyncio.Event()

    async def _run(self) -> None:
        try:
            async for update in self.live:
                await self.queue.put(update)
        finally:
            self.ended.set()

    async def next(self, kind: str, where: Any = None, wait: float = 10.0) -> Any:
        """Data of the next update of ``kind`` (matching ``where``), skipping others."""

        async def find() -> Any:
            while True:
                u = await self.queue.get()
                if u.kind == kind and (where is None or where(u.data)):
                    return u.data

        return await asyncio.wait_for(find(), wait)

    async def events_until(self, seq: int, wait: float = 10.0) -> list[Any]:
        """Every event update up to ``seq``; fails on any resync in between."""
        out: list[Any] = []

        async def run() -> None:
            while not out or out[-1][0] < seq:
                u = await self.queue.get()
                assert u.kind not in ("dropped", "snapshot"), u
                if u.kind == "events":
                    out.extend(u.data)

        await asyncio.wait_for(run(), wait)
        return out

    async def close(self) -> None:
        await self.live.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.ended.wait(), 5)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def feed(sock_path: Path) -> AsyncIterator[Feed]:
    f = Feed(LiveClient(sock_path, backoff_initial=0.02, backoff_max=0.1))
    yield f
    await f.close()


async def test_connect_snapshot_then_deltas(sock_path: Path, feed: Feed) -> None:
    eng = Engine(control_settings(sock_path))
    flows = build_flows(eng)
    async with eng:
        await burst(eng, flows["plain"], 5)
        state = await feed.next("state", lambda d: d["connected"])
        assert state["path"] == str(sock_path) and state["error"] is None
        assert state["engine"]["name"] == "ctl-test"
        snap = await feed.next("snapshot")
        assert snap["seq"] == 5 and "plain" in snap["routers"]
        await burst(eng, flows["plain"], 7)
        events = await feed.events_until(12)
        assert [e[0] for e in events] == list(range(6, 13))
        stats = await feed.next("stats")
        assert "caches" in stats
        res = await feed.live.call("router.pin", {"name": "plain", "route": "a"})
        assert res["pin"] == "a"
        with pytest.raises(ControlError) as info:
            await feed.live.call("router.pin", {"name": "plain", "route": "zz"})
        assert info.value.code == "not_found"


async def test_gap_triggers_a_fresh_snapshot(sock_path: Path, feed: Feed) -> None:
    eng = Engine(control_settings(sock_path, event_ring=1024))
    flows = build_flows(eng)
    async with eng:
        await feed.next("snapshot")
        await burst(eng, flows["plain"], 3000)  # laps the 1024-event ring before a drain
        dropped = await feed.next("dropped")
        assert dropped["count"] > 0
        snap = await feed.next("snapshot")
        assert snap["seq"] >= dropped["next"] - 1
        assert snap["routers"]["plain"]["stats"]["total"] == 3000
        assert feed.live.resyncs == 1
        await burst(eng, flows["plain"], 5)
        events = await feed.events_until(eng.bus.seq)
        seqs = [e[0] for e in events]
        assert seqs == list(range(seqs[0], eng.bus.seq + 1))
        assert seqs[0] <= snap["seq"] + 1


async def test_local_overflow_also_resyncs(
    sock_path: Path, feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ControlClient, "max_queued_events", 50)
    eng = Engine(control_settings(sock_path))
    flows = build_flows(eng)
    async with eng:
        await feed.next("snapshot")
        await burst(eng, flows["plain"], 500)  # one frame of 500 events > 50 queued
        dropped = await feed.next("dropped")
        assert dropped["local"] is True and dropped["count"] >= 500
        snap = await feed.next("snapshot")
        assert snap["seq"] >= 500


async def test_reconnects_and_resyncs_after_engine_restart(sock_path: Path, feed: Feed) -> None:
    first = Engine(control_settings(sock_path))
    build_flows(first)
    async with first:
        await feed.next("state", lambda d: d["connected"])
        await feed.next("snapshot")
    lost = await feed.next("state", lambda d: not d["connected"])
    assert lost["error"] and lost["attempt"] >= 1
    assert not feed.live.connected
    with pytest.raises(ConnectionLost):
        await feed.live.call("hello")
    # A few failed attempts while nothing listens (each one reported)...
    failed = await feed.next("state", lambda d: not d["connected"] and d["attempt"] >= 2)
    assert "no engine" in failed["error"]
    # ...then a new engine on the same path: connected again with a fresh snapshot.
    second = Engine(control_settings(sock_path, name="second"))
    build_flows(second)
    async with second:
        state = await feed.next("state", lambda d: d["connected"])
        assert state["engine"]["name"] == "second" and state["attempt"] == 0
        snap = await feed.next("snapshot")
        assert snap["engine"]["pid"] == second.pid
        assert (await feed.live.call("hello"))["name"] == "second"


async def test_close_ends_the_iteration(sock_path: Path) -> None:
    live = LiveClient(sock_path, backoff_initial=5.0, backoff_max=5.0)
    feed = Feed(live)
    await feed.next("state")  # no engine: waiting in a 2.5-5 s backoff
    await live.close()
    await asyncio.wait_for(feed.ended.wait(), 2)  # close cuts the backoff short
    await feed.close()
