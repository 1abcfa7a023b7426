"""Router: selection (sync/async), unknown routes, pinning, stats, events."""

from __future__ import annotations

import pytest

from flowdeck.engine import Completion, Context, Router, Step
from flowdeck.engine.primitives.router import UnknownRoute
from flowdeck.engine.telemetry.events import EventBus


def label(name: str, cost: float = 0.0) -> Step:
    async def run(data: dict) -> Completion:
        return Completion(text=name, model=name, provider=name, cost=cost)

    return Step(run, name=name)


def by_len(data: dict) -> str:
    return "small" if len(data["prompt"]) < 10 else "big"


async def async_select(data: dict, ctx: Context) -> str:
    return ctx.get("force", "small")


def make_router(select=by_len) -> Router:
    return Router(
        {"small": label("small", 0.001), "big": label("big", 0.01)},
        name="tiers",
        select=select,
        default="small",
    )


async def test_sync_and_async_select() -> None:
    r = make_router()
    assert (await r({"prompt": "hi"})).text == "small"
    assert (await r({"prompt": "a much longer prompt"})).text == "big"
    r2 = make_router(async_select)
    assert (await r2.execute({"prompt": "x"}, Context(force="big"))).text == "big"


async def test_unknown_route_goes_to_default_and_is_counted() -> None:
    r = make_router(lambda d: "nonexistent")
    assert (await r({"prompt": "x"})).text == "small"
    assert r.stats()["unknown"] == 1


async def test_without_a_default_an_unknown_choice_raises_naming_it_and_the_routes() -> None:
    r = Router({"cheap": label("cheap"), "pricey": label("pricey")}, select=lambda d: "gpt-9")
    with pytest.raises(UnknownRoute, match=r"'gpt-9'.*\['cheap', 'pricey'\]"):
        await r({"prompt": "x"})
    assert r.stats()["unknown"] == 1
    assert r.stats()["routes"]["cheap"]["count"] == 0  # not sent to the first route
    assert r.describe()["default"] is None


async def test_pin_and_unpin() -> None:
    r = make_router()
    r.pin("big")
    assert (await r({"prompt": "hi"})).text == "big"
    r.pin(None)
    assert (await r({"prompt": "hi"})).text == "small"
    with pytest.raises(KeyError, match="no route 'huge'"):
        r.pin("huge")


async def test_stats_count_share_cost_latency_errors() -> None:
    async def boom(data: dict) -> None:
        raise RuntimeError("down")

    r = Router({"ok": label("ok", 0.5), "bad": Step(boom)}, name="r", select=lambda d: d["to"])
    for _ in range(3):
        await r({"to": "ok"})
    with pytest.raises(RuntimeError):
        await r({"to": "bad"})
    st = r.stats()
    assert st["total"] == 4
    assert st["routes"]["ok"]["count"] == 3
    assert st["routes"]["ok"]["share"] == pytest.approx(0.75)
    assert st["routes"]["ok"]["cost"] == pytest.approx(1.5)
    assert st["routes"]["ok"]["p50"] is not None
    assert st["routes"]["bad"]["errors"] == 1
    d = r.describe()
    assert d["pin"] is None and d["routes"] == ["ok", "bad"]
    assert d["providers"] == {"ok": None, "bad": None}


async def test_route_events_emitted() -> None:
    r = make_router()
    bus = EventBus(64)
    r._bus = bus
    await r({"prompt": "hi"})
    r.pin("big")
    await r({"prompt": "hi"})
    kinds = [(e[2], e[4], e[5]) for e in bus.recent(10) if e[2] == "route"]
    assert kinds == [("route", "small", "select"), ("route", "big", "pin")]


def test_set_model_rejects_non_provider_routes() -> None:
    r = make_router()
    with pytest.raises(ValueError, match="not provider-backed"):
        r.set_model("small", "whatever")
    with pytest.raises(KeyError):
        r.set_model("nope", "whatever")


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="default"):
        Router({"a": label("a")}, select=by_len, default="b")
    with pytest.raises(ValueError, match="at least one"):
        Router({}, select=by_len)


class Gated(Step):
    """A route that can say it takes no traffic now (as a resting tier does)."""

    __slots__ = ("out",)

    def __init__(self, name: str) -> None:
        super().__init__(label(name)._fn, name=name)
        self.out: str | None = None

    def blocked(self) -> str | None:
        return self.out

    def sent_elsewhere(self, why: str) -> None:
        pass


def parity_router(case: str) -> Router:
    routes = {"small": Gated("small"), "big": Gated("big")}
    if case == "weights":
        return Router(routes, name="r", weights={"small": 1, "big": 1}, key=lambda d: d["prompt"])
    r = Router(
        routes, name="r", select=async_select if case == "async" else by_len, default="small"
    )
    if case == "pin":
        r.pin("big")
    elif case == "fallback":
        routes["small"].out = "cooldown"
    elif case == "unknown":
        r._select = lambda d: "nonexistent"
    return r


@pytest.mark.parametrize("case", ["select", "async", "unknown", "pin", "weights", "fallback"])
async def test_streaming_chooses_the_route_execute_chooses(case: str) -> None:
    """Router.execute keeps its choice inline (the hot path) and the streaming path has its
    own copy of the same steps (docs/decisions.md): they must agree, reason included."""
    prompts = ["hi", "a much longer prompt", "third one", "and a fourth, longer"]
    chosen: dict[str, list[tuple[str, str]]] = {}
    for how in ("execute", "stream"):
        r = parity_router(case)
        r._bus = bus = EventBus(256)
        for p in prompts:
            ctx = Context(force="big")
            if how == "execute":
                await r.execute({"prompt": p}, ctx)
            else:
                async for _ in await r.open_stream({"prompt": p}, ctx):
                    pass
        chosen[how] = [(e[4], e[5]) for e in bus.recent(256) if e[2] == "route"]
    assert len(chosen["execute"]) == len(prompts)
    assert chosen["stream"] == chosen["execute"]
    reasons = {reason for _, reason in chosen["execute"]}
    expected = {
        "async": {"select"},
        "weights": {"weight"},
        "fallback": {"fallback", "select"},  # the long prompts chose big themselves
    }.get(case, {case})
    assert reasons == expected, chosen
