"""Router and provider levers through a real engine, real fake HTTP providers and the
control socket: cooldowns (seen, ended, started), weighted splits, stickiness, drained
routes as fallbacks, budgets, restoring a tier's order, and every lever's validation."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine import Engine, Router
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ControlClient, ControlError
from flowdeck.engine.providers import ProviderCall
from flowdeck.engine.telemetry.events import EventKind
from tests.support.providers import FakeFleet, Reply, Status


def provider(url: str, **kw: Any) -> dict[str, Any]:
    return {"kind": "openai", "base_url": url, "model": "m", "backoff_base": 0.0, **kw}


def added(eng: Engine, router: Router) -> Router:
    eng.add(router)
    return router


def events(eng: Engine, kind: str) -> list[tuple[Any, ...]]:
    return [e[3:] for e in eng.bus.recent(eng.bus.capacity) if e[2] == kind]


async def refused(client: ControlClient, method: str, params: Any) -> ControlError:
    with pytest.raises(ControlError) as info:
        await client.call(method, params)
    return info.value


async def test_a_500ing_provider_cools_down_and_ending_it_sends_traffic_again(
    fakes: FakeFleet, sock_path: Path
) -> None:
    bad = await fakes.start("openai", default=Status(500, body={"error": {"message": "boom"}}))
    good = await fakes.start("openai", default=Reply("from good"))
    settings = {
        "bad": provider(bad.base_url, max_retries=0, cooldown_after=2, cooldown=120),
        "good": provider(good.base_url),
    }
    async with Engine(socket=sock_path, providers=settings, tiers={"t": ["bad", "good"]}) as eng:
        tier = eng.provider("t")
        for _ in range(2):
            assert (await eng.run(tier, "hi")).provider == "good"
        h = eng.providers["bad"].health()
        assert h["state"] == "cooling down" and h["cooldown_reason"] == "failures"
        assert 100 < h["cooldown_remaining"] <= 120 and h["consecutive_failures"] == 2
        assert "boom" in h["last_error"]
        # Resting: the next call does not reach it at all.
        assert (await eng.run(tier, "hi")).provider == "good"
        assert bad.count == 2 and eng.providers["bad"].skipped == 1

        bad.default = Reply("bad is back")
        async with await ControlClient.connect(sock_path) as c:
            snap = await c.snapshot()
            assert snap["providers"]["bad"]["state"] == "cooling down"
            reply = await c.call(P.PROVIDER_RESUME, {"name": "bad"})
        assert reply["state"] == "ok" and reply["cooldown_remaining"] == 0
        assert 100 < reply["result"]["seconds_left"] <= 120
        assert (await eng.run(tier, "hi")).text == "bad is back"
        [(name, left, why)] = events(eng, EventKind.PROVIDER_RESUME)
        assert (name, why) == ("bad", "operator") and left > 100
        [rec] = [r for r in eng.fleet.audit.recent() if r["method"] == P.PROVIDER_RESUME]
        assert rec["result"] == "applied" and rec["scope"] == "socket"
        assert rec["actor"]["user"] == pwd.getpwuid(os.getuid()).pw_name  # the peer's uid, named
        async with await ControlClient.connect(sock_path) as c:
            await c.call(P.PROVIDER_RESUME, {"name": "bad"})  # not cooling down now
        rec = eng.fleet.audit.recent()[-1]
        assert rec["result"] == "unchanged" and rec["before"] == rec["after"]


async def test_an_operator_drain_moves_traffic_and_stays_a_last_resort(
    fakes: FakeFleet, sock_path: Path
) -> None:
    a = await fakes.start("openai", default=Reply("a"))
    b = await fakes.start("openai", default=Reply("b"))
    settings = {"a": provider(a.base_url), "b": provider(b.base_url)}
    async with Engine(socket=sock_path, providers=settings, tiers={"t": ["a", "b"]}) as eng:
        tier = eng.provider("t")
        assert isinstance(tier, ProviderCall)
        async with await ControlClient.connect(sock_path) as c:
            reply = await c.call(P.PROVIDER_COOLDOWN, {"name": "a", "seconds": 300})
            assert reply["state"] == "cooling down" and reply["cooldown_reason"] == "operator"
            assert (await eng.run(tier, "x")).text == "b"
            await c.call(P.PROVIDER_COOLDOWN, {"name": "b", "seconds": 100})
            # Both drained: the one back soonest still answers rather than nothing.
            assert (await eng.run(tier, "x")).text == "b"
            assert tier.last_resort == 1
            await c.call(P.PROVIDER_RESUME, {"name": "a"})
            assert (await eng.run(tier, "x")).text == "a"
        assert events(eng, EventKind.PROVIDER_COOLDOWN)[0] == ("a", 300.0, "operator")


def canary_engine(sock_path: Path, stable: str, canary: str, **kw: Any) -> Engine:
    return Engine(
        socket=sock_path,
        providers={"s": provider(stable), "c": provider(canary)},
        tiers={"stable": ["s"], "canary": ["c"]},
        **kw,
    )


def split_router(eng: Engine, weights: dict[str, float], **kw: Any) -> Router:
    """The ``split`` router over the canary engine's two tiers, registered."""
    tiers = {"stable": eng.provider("stable"), "canary": eng.provider("canary")}
    return added(eng, Router(tiers, weights=weights, name="split", **kw))


async def test_a_90_10_split_over_2000_requests_lands_within_3_points(
    fakes: FakeFleet, sock_path: Path
) -> None:
    s = await fakes.start("openai", default=Reply("stable"))
    c = await fakes.start("openai", default=Reply("canary"))
    async with canary_engine(sock_path, s.base_url, c.base_url) as eng:
        router = split_router(eng, {"stable": 90, "canary": 10})
        for i in range(2000):
            await eng.run(router, f"q{i}")
        assert s.count + c.count == 2000
        assert abs(c.count / 2000 - 0.10) <= 0.03
        d = router.describe()
        assert d["targets"] == {"stable": 0.9, "canary": 0.1}
        assert d["stats"]["routes"]["canary"]["count"] == c.count


async def test_sticky_keys_and_live_weights_from_the_control_socket(
    fakes: FakeFleet, sock_path: Path
) -> None:
    s = await fakes.start("openai", default=Reply("stable"))
    c = await fakes.start("openai", default=Reply("canary"))
    async with canary_engine(sock_path, s.base_url, c.base_url) as eng:
        router = split_router(eng, {"stable": 90, "canary": 10}, key=lambda d: d["user"])
        users = [f"user-{i}" for i in range(200)]

        async def seen() -> dict[str, str]:
            out = {}
            for u in users:
                done = await eng.run(router, {"prompt": "hi", "user": u})
                out[u] = done.text
            return out

        first = await seen()
        assert first == await seen()  # one key, one route, every time
        on_canary = {u for u, r in first.items() if r == "canary"}
        assert 0 < len(on_canary) < 60

        async with await ControlClient.connect(sock_path) as cl:
            same = {"name": "split", "weights": {"stable": 90, "canary": 10}}  # as configured
            await cl.call(P.ROUTER_SET_WEIGHTS, same)
            assert eng.fleet.audit.recent()[-1]["result"] == "unchanged"
            assert (await cl.snapshot())["routers"]["split"]["sources"]["weights"] == "config"
            reply = await cl.call(
                P.ROUTER_SET_WEIGHTS, {"name": "split", "weights": {"stable": 50, "canary": 50}}
            )
            assert reply["weights"] == {"stable": 50.0, "canary": 50.0}
            assert reply["sources"]["weights"] == "runtime"  # the reply says so too
            assert (await cl.snapshot())["routers"]["split"]["sources"]["weights"] == "runtime"
            assert eng.fleet.audit.recent()[-1]["result"] == "applied"
            widened = await seen()
            # Growing the canary only moves keys onto it: none of its users leave it.
            assert on_canary <= {u for u, r in widened.items() if r == "canary"}
            await cl.call(P.ROUTER_SET_WEIGHTS, {"name": "split", "weights": None})
            assert router.weights == {"stable": 90.0, "canary": 10.0}
            assert await seen() == first
        assert events(eng, EventKind.ROUTER_WEIGHTS)[-1] == (
            "split",
            {"stable": 90.0, "canary": 10.0},
        )


async def test_weight_zero_is_drained_but_still_a_fallback(
    fakes: FakeFleet, sock_path: Path
) -> None:
    s = await fakes.start("openai", default=Reply("stable"))
    c = await fakes.start("openai", default=Reply("canary"))
    async with canary_engine(sock_path, s.base_url, c.base_url) as eng:
        router = split_router(eng, {"stable": 1, "canary": 0})
        for _ in range(50):
            assert (await eng.run(router, "x")).text == "stable"
        eng.providers["s"].start_cooldown(60)
        assert (await eng.run(router, "x")).text == "canary"
        st = router.stats()
        assert st["fallbacks"]["cooldown"] == 1 and st["last_resort"] == 0
        assert events(eng, EventKind.ROUTER_FALLBACK) == [("split", "stable", "canary", "cooldown")]
        eng.providers["c"].start_cooldown(30)
        assert (await eng.run(router, "x")).text == "stable"  # every route out: last resort
        assert router.stats()["last_resort"] == 1


async def test_a_budget_exhausts_and_traffic_falls_to_the_next_tier(
    fakes: FakeFleet, sock_path: Path
) -> None:
    cheap = await fakes.start("openai", default=Reply("cheap", tokens_in=1000, tokens_out=0))
    smart = await fakes.start("openai", default=Reply("smart"))
    settings = {
        "cheap": provider(cheap.base_url, price_in=0.01),  # 0.01 USD a call
        "smart": provider(smart.base_url),
    }
    async with Engine(
        socket=sock_path,
        providers=settings,
        tiers={"fast": ["cheap"], "best": ["smart"]},
        budgets={"fast": {"usd": 0.03, "period": "day"}},
    ) as eng:
        router = added(
            eng,
            Router(
                {"fast": eng.provider("fast"), "best": eng.provider("best")},
                select=lambda d: "fast",
                name="tiers",
            ),
        )
        texts = [(await eng.run(router, f"q{i}")).text for i in range(5)]
        assert texts == ["cheap", "cheap", "cheap", "smart", "smart"]
        assert cheap.count == 3
        b = eng.budgets["fast"].describe()
        assert b["scope"] == "tier" and b["remaining"] == 0 and b["exhausted"]
        assert b["spent"] == pytest.approx(0.03) and b["burn_per_hour"] > 0
        assert router.stats()["fallbacks"]["budget"] == 2
        assert b["skipped"] == 2  # the tier's own count of requests it sent elsewhere
        assert router.describe()["tiers"] == {"fast": "fast", "best": "best"}
        [(name, state, spent, usd)] = events(eng, EventKind.BUDGET)
        assert (name, state, usd) == ("fast", "exhausted", 0.03) and spent >= usd
        async with await ControlClient.connect(sock_path) as c:
            snap = await c.snapshot()
        assert snap["budgets"]["fast"]["exhausted"] is True


async def test_a_provider_budget_is_skipped_like_a_cooldown(
    fakes: FakeFleet, sock_path: Path
) -> None:
    a = await fakes.start("openai", default=Reply("a", tokens_in=1000, tokens_out=0))
    b = await fakes.start("openai", default=Reply("b"))
    settings = {"a": provider(a.base_url, price_in=1.0), "b": provider(b.base_url)}
    async with Engine(
        socket=sock_path,
        providers=settings,
        tiers={"t": ["a", "b"]},
        budgets={"a": {"usd": 1.0, "period": "minute"}},
    ) as eng:
        tier = eng.provider("t")
        assert [(await eng.run(tier, "x")).text for _ in range(3)] == ["a", "b", "b"]
        h = eng.providers["a"].health()
        assert h["state"] == "over budget" and h["skipped"] == 2
        assert h["budget"]["skipped"] == 2 and h["budget"]["period"] == "minute"


async def test_restore_puts_a_tier_back_to_its_configured_order(sock_path: Path) -> None:
    sim = {"kind": "simulated", "latency_ms": 0.0, "latency_jitter": 0.0}
    providers = {"sim-mini": sim, "sim-gamma": sim, "sim-beta": sim}
    async with Engine(socket=sock_path, providers=providers, tiers={"fast": ["sim-mini"]}) as eng:
        eng.add(Router({"fast": eng.provider("fast")}, select=lambda d: "fast", name="r"))
        async with await ControlClient.connect(sock_path) as c:
            for p in ("sim-gamma", "sim-beta"):
                await c.call(P.ROUTER_SET_MODEL, {"name": "r", "route": "fast", "provider": p})
            snap = await c.snapshot()
            assert snap["routers"]["r"]["providers"]["fast"] == [
                "sim-beta",
                "sim-gamma",
                "sim-mini",
            ]
            reply = await c.call(P.ROUTER_RESTORE, {"name": "r", "route": "fast"})
            assert (await c.snapshot())["routers"]["r"]["sources"]["model:fast"] == "config"
        assert reply["providers"]["fast"] == ["sim-mini"] == reply["configured"]["fast"]
        assert reply["result"] == {"fast": ["sim-mini"]}


async def test_every_lever_is_validated_with_a_clear_message(sock_path: Path) -> None:
    sim = {"kind": "simulated", "latency_ms": 0.0}
    async with Engine(socket=sock_path, providers={"p": sim}, tiers={"t": ["p"]}) as eng:
        eng.add(
            Router({"a": eng.provider("t"), "b": eng.provider("t")}, weights={"a": 1}, name="r")
        )
        async with await ControlClient.connect(sock_path) as c:
            cases: list[tuple[str, dict[str, Any], str, str]] = [
                (P.ROUTER_SET_WEIGHTS, {"name": "r", "weights": {"zz": 1}}, "bad_params", "'zz'"),
                (P.ROUTER_SET_WEIGHTS, {"name": "r", "weights": {"a": -1}}, "bad_params", "0 to"),
                (P.ROUTER_SET_WEIGHTS, {"name": "r", "weights": {"a": 0}}, "bad_params", "above 0"),
                (
                    P.ROUTER_SET_WEIGHTS,
                    {"name": "r", "weights": {"a": True}},
                    "bad_params",
                    "number",
                ),
                (P.ROUTER_SET_WEIGHTS, {"name": "r", "weights": [1]}, "bad_params", "map"),
                (P.ROUTER_SET_WEIGHTS, {"name": "nope", "weights": None}, "not_found", "'nope'"),
                (P.ROUTER_RESTORE, {"name": "r", "route": "zz"}, "not_found", "'zz'"),
                (P.PROVIDER_COOLDOWN, {"name": "p", "seconds": 0}, "bad_params", "more than 0"),
                (P.PROVIDER_COOLDOWN, {"name": "p", "seconds": 1e12}, "bad_params", "seconds"),
                (P.PROVIDER_COOLDOWN, {"name": "q", "seconds": 5}, "not_found", "'q'"),
                (P.PROVIDER_RESUME, {"name": "p", "extra": 1}, "bad_params", "'extra'"),
            ]
            for method, params, code, text in cases:
                err = await refused(c, method, params)
                assert err.code == code, (method, params, err)
                assert text in err.message, (method, params, err.message)
        assert eng.routers["r"].weights == {"a": 1.0, "b": 0.0}
        assert not eng.providers["p"].cooling_down()
