"""Parallel: fail-fast cancellation, collect, limits, timelines, speedup."""

from __future__ import annotations

import asyncio

import pytest

from flowdeck.engine import Parallel, Step


def waiter(name: str, gate: asyncio.Event | None = None, value: object = None) -> Step:
    async def run(data: object) -> object:
        if gate is not None:
            await gate.wait()
        return value if value is not None else name

    return Step(run, name=name)


def failer(name: str, after: asyncio.Event | None = None) -> Step:
    async def run(data: object) -> object:
        if after is not None:
            await after.wait()
        raise ValueError(f"{name} failed")

    return Step(run, name=name)


async def test_results_in_branch_order() -> None:
    p = Parallel([waiter("a"), waiter("b"), waiter("c")], name="p")
    assert await p(None) == ["a", "b", "c"]


async def test_fail_fast_cancels_siblings_and_raises() -> None:
    never = asyncio.Event()
    cancelled: list[str] = []

    async def slow(data: object) -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise

    p = Parallel([Step(slow, name="slow"), failer("bad")], name="ff")
    with pytest.raises(ValueError, match="bad failed"):
        await p(None)
    assert cancelled == ["slow"]
    run = p.recent_timelines()[-1]
    assert run["status"] == "error"
    assert {b["name"]: b["status"] for b in run["branches"]} == {
        "slow": "cancelled",
        "bad": "error",
    }


async def test_collect_returns_errors_in_place() -> None:
    p = Parallel([waiter("a"), failer("b"), waiter("c")], name="col", fail="collect")
    res = await p(None)
    assert res[0] == "a" and res[2] == "c"
    assert isinstance(res[1], ValueError)
    assert p.stats()["errors"] == 1


async def test_limit_bounds_concurrency() -> None:
    running = 0
    peak = 0
    release = asyncio.Event()
    started = asyncio.Event()

    async def branch(data: object) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 2:
            started.set()
        await release.wait()
        running -= 1
        return 1

    p = Parallel([Step(branch) for _ in range(6)], name="lim", limit=2)
    task = asyncio.create_task(p(None))
    await started.wait()
    for _ in range(5):
        await asyncio.sleep(0)
    assert running == 2
    release.set()
    assert await task == [1] * 6
    assert peak == 2


async def test_timeline_and_speedup_reflect_concurrency() -> None:
    async def nap(data: object) -> str:
        await asyncio.sleep(0.05)
        return "ok"

    p = Parallel([Step(nap, name=f"b{i}") for i in range(4)], name="tl")
    await p(None)
    run = p.recent_timelines()[-1]
    assert [b["name"] for b in run["branches"]] == ["b0", "b1", "b2", "b3"]
    for b in run["branches"]:
        assert 0 <= b["start"] < b["end"] <= run["wall"] + 1e-6
        assert b["status"] == "ok"
    # Four overlapping 50 ms naps: busy time well above wall time.
    assert run["speedup"] > 2.0
    assert p.stats()["speedup"] > 2.0


async def test_outer_cancellation_cancels_branches() -> None:
    gate = asyncio.Event()
    p = Parallel([waiter("a", gate), waiter("b", gate)], name="oc")
    task = asyncio.create_task(p(None))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert p.recent_timelines()[-1]["status"] == "cancelled"


async def test_timeline_ring_is_bounded() -> None:
    p = Parallel([waiter("a")], name="ring", history=5)
    for _ in range(12):
        await p(None)
    assert len(p.recent_timelines()) == 5
    assert p.stats()["runs"] == 12


def test_validation() -> None:
    with pytest.raises(ValueError, match="fail"):
        Parallel([waiter("a")], fail="sometimes")  # type: ignore[arg-type]  # not a fail mode, on purpose
    with pytest.raises(ValueError, match="limit"):
        Parallel([waiter("a")], limit=0)
    with pytest.raises(ValueError, match="at least one"):
        Parallel([])


async def test_fail_fast_counts_cancelled_branches_and_reports_no_speedup() -> None:
    """Issue 12 item 15: the counter agrees with the gantt's cancelled branches, and a
    fail-fast run's stopped time is not reported as parallelism."""
    never = asyncio.Event()
    p = Parallel([waiter("s1", never), waiter("s2", never), failer("bad")], name="ff")
    for _ in range(3):
        with pytest.raises(ValueError):
            await p(None)
    marked = [b for r in p.recent_timelines() for b in r["branches"] if b["status"] == "cancelled"]
    st = p.stats()
    assert st["branches_cancelled"] == len(marked) == 6
    assert (st["runs"], st["errors"], st["cancelled"]) == (3, 3, 0)
    assert st["speedup"] is None
    assert all(r["speedup"] is None for r in p.recent_timelines())


async def test_speedup_counts_only_runs_whose_branches_all_finished() -> None:
    go = asyncio.Event()
    never = asyncio.Event()
    fail = asyncio.Event()
    p = Parallel([waiter("a", go), waiter("b", go), failer("bad", fail), waiter("c", never)])
    go.set()
    fail.set()
    with pytest.raises(ValueError):
        await p(None)
    assert p.stats()["speedup"] is None
    col = Parallel([waiter("a"), failer("b")], fail="collect")
    await col(None)
    run = col.recent_timelines()[-1]
    assert run["status"] == "error" and run["speedup"] is not None  # every branch ended
    assert col.stats()["speedup"] is not None and col.stats()["branches_cancelled"] == 0


async def test_branches_never_started_under_a_limit_are_counted() -> None:
    never = asyncio.Event()
    p = Parallel([failer("bad"), waiter("w1", never), waiter("w2", never)], limit=1)
    with pytest.raises(ValueError):
        await p(None)
    assert p.stats()["branches_cancelled"] == 2
