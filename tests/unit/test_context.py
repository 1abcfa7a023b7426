"""Context: what Engine.run makes per run behaves like Context(engine)."""

from __future__ import annotations

import pytest

from flowdeck.engine import Context, Engine, EngineSettings, Step


def test_fresh_context_is_like_a_constructed_one() -> None:
    eng = object()
    ctx = Context.fresh(eng)  # type: ignore[arg-type]  # any engine-like object
    assert ctx.engine is eng
    assert "x" not in ctx and ctx.get("x", 1) == 1
    ctx["x"] = 2
    assert ctx["x"] == 2 and ctx.vars == {"x": 2}
    assert repr(ctx) == "Context(x)"
    with pytest.raises(AttributeError):
        ctx.nope  # type: ignore[attr-defined]  # noqa: B018  (a missing name, read on purpose)


async def test_each_run_gets_its_own_vars() -> None:
    seen: list[dict[str, object]] = []

    async def step(data: int, ctx: Context) -> int:
        seen.append(dict(ctx.vars))
        ctx["n"] = data
        return data

    async with Engine(EngineSettings.load(control=False)) as eng:
        flow = Step(step)
        assert [await eng.run(flow, i) for i in range(3)] == [0, 1, 2]
        assert await eng.run(flow, 5, Context(eng, user="u")) == 5
    assert seen == [{}, {}, {}, {"user": "u"}]
