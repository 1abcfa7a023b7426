"""Router and provider levers fleet-wide through a real redis-server: acknowledged per
engine, weights that stick for a new engine, a restore that ends the re-map overrides."""

from __future__ import annotations

import asyncio
from typing import Any

from flowdeck.engine import Engine, Router
from flowdeck.engine.fleet.sender import FleetSender
from tests.support.redis_fleet import fleet_engine, heartbeat_of, link_of, unique_fleet
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

SIM = {"kind": "simulated", "latency_ms": 0.0, "latency_jitter": 0.0}
PROVIDERS = {"p1": SIM, "p2": SIM, "p3": SIM}


def engine(url: str, fleet: str, **kw: Any) -> Engine:
    eng = fleet_engine(url, fleet, providers=PROVIDERS, tiers={"a": ["p1"], "b": ["p2"]}, **kw)
    eng.add(
        Router(
            {"a": eng.provider("a"), "b": eng.provider("b")},
            weights={"a": 90, "b": 10},
            name="split",
        )
    )
    return eng


async def ready(*engines: Engine) -> None:
    for e in engines:
        await asyncio.wait_for(link_of(e).subscribed.wait(), 10)
    await until(lambda: all(heartbeat_of(e).sent for e in engines))


async def test_levers_reach_every_engine_with_acknowledgements(
    redis_server: RedisServer,
) -> None:
    fleet = unique_fleet()
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    sender = FleetSender.from_url(url, fleet)
    try:
        async with (
            engine(url, fleet) as a,
            engine(url, fleet) as b,
            engine(url, fleet, read_only=True) as ro,
        ):
            await ready(a, b, ro)
            report = await sender.send("provider.cooldown", {"name": "p1", "seconds": 120})
            assert sorted(report.applied) == sorted([a.id, b.id]), report.summary()
            assert report.answers[ro.id]["status"] == "read_only"
            assert report.answers[a.id]["after"]["state"] == "cooling down"
            assert a.providers["p1"].cooldown_reason == "operator"
            assert not ro.providers["p1"].cooling_down()

            report = await sender.send("provider.resume", {"name": "p1"})
            assert sorted(report.applied) == sorted([a.id, b.id])
            assert not a.providers["p1"].cooling_down() and not b.providers["p1"].cooling_down()

            weights = {"name": "split", "weights": {"a": 50, "b": 50}}
            report = await sender.send("router.set_weights", weights)
            assert sorted(report.applied) == sorted([a.id, b.id])
            assert report.answers[a.id]["before"] == {"a": 90.0, "b": 10.0}
            assert a.routers["split"].describe()["sources"]["weights"] == "fleet"
            # A new engine takes the fleet's weights before its first request.
            async with engine(url, fleet) as late:
                assert late.routers["split"].weights == {"a": 50.0, "b": 50.0}

            for p in ("p3", "p2"):
                remap = {"name": "split", "route": "a", "provider": p}
                report = await sender.send("router.set_model", remap)
                assert {a.id, b.id} <= set(report.applied)
            assert a.routers["split"].providers_of("a") == ["p2", "p3", "p1"]
            report = await sender.send("router.restore", {"name": "split", "route": None})
            assert {a.id, b.id} <= set(report.applied)
            assert (
                a.routers["split"].providers_of("a")
                == ["p1"]
                == b.routers["split"].providers_of("a")
            )
            assert "router:split:model:a" not in await sender.overrides()
            assert a.routers["split"].describe()["sources"]["model:a"] == "config"
            audit = [r["method"] for r in a.fleet.audit.recent()]
            assert {"provider.cooldown", "router.set_weights", "router.restore"} <= set(audit)
    finally:
        await sender.close()
