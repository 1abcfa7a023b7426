"""Composition: Step wrapping, >> and | semantics, associativity, shared context."""

from __future__ import annotations

import asyncio

import pytest

from flowdeck.engine import Context, Parallel, Primitive, Sequence, Step


def inc(x: int) -> int:
    return x + 1


async def double(x: int) -> int:
    return x * 2


def with_ctx(x: int, ctx: Context) -> int:
    return x + ctx.get("bonus", 0)


class Times10:
    async def __call__(self, x: int) -> int:
        return x * 10


async def test_step_wraps_sync_async_and_ctx_callables() -> None:
    ctx = Context(bonus=5)
    assert await Step(inc).execute(1, ctx) == 2
    assert await Step(double).execute(3, ctx) == 6
    assert await Step(with_ctx).execute(1, ctx) == 6
    assert await Step(Times10()).execute(2, ctx) == 20
    assert await Step(lambda x: x - 1)(5) == 4


def test_step_rejects_non_callables_and_primitives() -> None:
    with pytest.raises(TypeError, match="callable"):
        Step(42)  # type: ignore[arg-type]  # not a callable, refused on purpose
    with pytest.raises(TypeError, match="Primitive"):
        Step(Step(inc))
    with pytest.raises(TypeError, match="cannot compose"):
        _ = Step(inc) >> 3


async def test_sequence_runs_in_order_and_flattens() -> None:
    flow = Step(inc) >> double >> inc
    assert isinstance(flow, Sequence)
    assert len(flow.steps) == 3
    assert await flow(1) == 5
    left = (Step(inc) >> Step(double)) >> Step(inc)
    right = Step(inc) >> (Step(double) >> Step(inc))
    assert [s.name for s in left.steps] == [s.name for s in right.steps]
    assert await left(3) == await right(3) == 9


async def test_parallel_operator_is_associative_and_flat() -> None:
    a, b, c = Step(inc), Step(double), Step(lambda x: -x, name="neg")
    left = (a | b) | c
    right = a | (b | c)
    assert isinstance(left, Parallel) and isinstance(right, Parallel)
    assert len(left.branches) == len(right.branches) == 3
    assert await left(4) == await right(4) == [5, 8, -4]


async def test_named_parallel_is_not_flattened() -> None:
    group = Parallel([Step(inc), Step(double)], name="pair")
    flow = group | Step(inc)
    assert await flow(1) == [[2, 2], 2]


async def test_context_state_flows_through_a_sequence_without_copies() -> None:
    seen: list[object] = []

    def first(x: int, ctx: Context) -> int:
        ctx["token"] = object()
        ctx["list"] = [1]
        return x

    def second(x: int, ctx: Context) -> int:
        seen.append(ctx["token"])
        ctx["list"].append(2)
        return x

    ctx = Context()
    await (Step(first) >> Step(second)).execute(0, ctx)
    assert seen == [ctx["token"]]
    assert ctx["list"] == [1, 2]


async def test_custom_primitive_composes() -> None:
    class AddN(Primitive):
        def __init__(self, n: int) -> None:
            self.n = n

        async def execute(self, data: int, ctx: Context) -> int:
            return data + self.n

    assert await (AddN(1) >> AddN(2) >> inc)(0) == 4
    assert await (inc >> AddN(1))(0) == 2  # __rrshift__ on a plain callable
    assert await (inc | AddN(5))(0) == [1, 5]


async def test_a_step_with_a_defaulted_capture_parameter_takes_no_context() -> None:
    steps = [Step(lambda d, t=t: (d, t)) for t in ("x", "y")]
    assert [await s("in") for s in steps] == [("in", "x"), ("in", "y")]
    both = Step(lambda d, c: (d, type(c).__name__))
    assert await both("in") == ("in", "Context")


async def test_or_keeps_an_anonymous_parallels_limit() -> None:
    running = 0
    peak = 0

    async def branch(d: object) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running -= 1
        return 1

    limited = Parallel([Step(branch) for _ in range(5)], limit=1)
    flow = limited | Step(lambda d: "other")
    assert isinstance(flow, Parallel)
    assert flow.branches[0] is limited  # not flattened into a group without the limit
    assert await flow(None) == [[1, 1, 1, 1, 1], "other"]
    assert peak == 1
    plain = Parallel([Step(branch), Step(branch)])
    grouped = plain | Step(branch)
    assert isinstance(grouped, Parallel)
    assert len(grouped.branches) == 3  # option-free groups still flatten
