"""A frozen PanelState for snapshot tests: updates recorded once from a real engine.

``python -m tests.support.frozen`` re-records ``tests/panel/snapshots/recording.json``
(a demo engine with traffic, followed for a few seconds through a real LiveClient);
``frozen_state()`` replays it into a PanelState with the clock-dependent parts fixed,
so a view renders the same SVG on every run.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from flowdeck.panel.state import PanelState
from tests.support import ROOT

RECORDING = ROOT / "tests" / "panel" / "snapshots" / "recording.json"
EVENTS_KEPT = 120  # events of the recording (enough to fill a screen)
SOCKET_SHOWN = "/run/user/1000/flowdeck/engine.sock"
TS_OFFSET = 1_780_000_000.0  # wall time of engine timestamp 0 (the clock column)


def frozen_state(path: Path = RECORDING) -> PanelState:
    """A PanelState fed with the recorded updates (socket and clock fixed)."""
    data = json.loads(path.read_text())
    state = PanelState(socket=SOCKET_SHOWN)
    for kind, payload in data["updates"]:
        state.apply(kind, payload)
    state._ts_offset = TS_OFFSET
    state.conn_changed = state.last_data = TS_OFFSET
    return state


TROUBLE: dict[str, dict[str, Any]] = {
    "sim-gamma": {
        "state": "cooling down",
        "consecutive_failures": 3,
        "cooldown_remaining": 252.4,
        "cooldown_reason": "failures",
        "cooldowns": 2,
        "errors": 3,
        "last_error": "sim-gamma: HTTP 500: upstream overloaded, please retry later\n"
        "(request id req_7f3a9c21, region eu-west-1)",
    },
    "sim-beta": {
        "state": "retrying",
        "consecutive_failures": 1,
        "in_flight": 2,
        "last_error": "sim-beta: timed out after 30s",
    },
    "sim-max": {
        "state": "cooling down",
        "cooldown_remaining": 3540.0,
        "cooldown_reason": "operator",
    },
    "sim-alpha": {
        "budget": {
            "name": "sim-alpha",
            "scope": "provider",
            "usd": 5.0,
            "period": "hour",
            "spent": 3.2,
            "remaining": 1.8,
            "burn_per_hour": 2.4,
            "resets_in": 1500.0,
            "exhausted": False,
        }
    },
}
"""Provider trouble laid over the recording for the Providers view's snapshots."""

TIER_BUDGETS: dict[str, dict[str, Any]] = {
    "balanced": {
        "name": "balanced",
        "scope": "tier",
        "usd": 20.0,
        "period": "day",
        "spent": 6.4,
        "remaining": 13.6,
        "burn_per_hour": 0.8,
        "resets_in": 28800.0,
        "exhausted": False,
        "skipped": 0,
    },
    "quality": {
        "name": "quality",
        "scope": "tier",
        "usd": 2.0,
        "period": "hour",
        "spent": 2.03,
        "remaining": 0.0,
        "burn_per_hour": 3.1,
        "resets_in": 1260.0,
        "exhausted": True,
        "skipped": 41,
    },
}
"""Tier budgets (one spent) for the Providers and Routers views' snapshots."""


def _with_tier_budgets(state: PanelState) -> None:
    budgets = {n: dict(p["budget"]) for n, p in TROUBLE.items() if "budget" in p}
    state.apply("stats", {"budgets": {**budgets, **copy.deepcopy(TIER_BUDGETS)}})
    for r in state.group("routers").values():
        r["tiers"] = {route: route for route in r.get("routes") or ()}


def frozen_provider_state(path: Path = RECORDING) -> PanelState:
    """The frozen state with providers in trouble (cooling down, retrying, drained, on a
    budget) and a clock that stands still, so the countdowns render the same every run."""
    state = frozen_state(path)
    state.clock = lambda: TS_OFFSET
    providers = copy.deepcopy(state.group("providers"))
    for name, extra in TROUBLE.items():
        providers.setdefault(name, {"name": name}).update(extra)
    state.apply("stats", {"providers": providers})
    _with_tier_budgets(state)
    state.conn_changed = state.last_data = TS_OFFSET
    return state


def frozen_router_state(path: Path = RECORDING) -> PanelState:
    """The frozen state with the ``tiers`` router weighted 70/20/10, a re-mapped route,
    requests that fell back (cooldown, budget) and unknown selections (the recording was
    made before routers had any of these)."""
    state = frozen_state(path)
    tiers = state.group("routers")["tiers"]
    tiers["configured"] = {r: list(v) for r, v in tiers["providers"].items()}
    tiers["providers"]["balanced"] = ["sim-gamma", "sim-mid", "sim-mini"]
    tiers["weights"] = {"fast": 70.0, "balanced": 30.0, "quality": 0.0}
    tiers["targets"] = {"fast": 0.7, "balanced": 0.3, "quality": 0.0}
    tiers["stats"].update(unknown=2, fallbacks={"cooldown": 12, "budget": 1}, last_resort=0)
    _with_tier_budgets(state)
    state.conn_changed = state.last_data = TS_OFFSET
    state.version += 1
    return state


async def record(seconds: float = 4.0) -> dict[str, Any]:
    from flowdeck.engine import Context, Engine
    from flowdeck.engine.control.client import LiveClient
    from flowdeck.engine.demo import build_flows, demo_settings

    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "engine.sock"
        eng = Engine(demo_settings(0.05, socket=sock, stats_interval=0.5, name="demo"))
        await eng.start()
        flows = build_flows(eng)
        updates: list[list[Any]] = []
        events = 0

        async def follow() -> None:
            nonlocal events
            async for u in LiveClient(sock, client_name="recorder"):
                if u.kind == "events":
                    batch = u.data.get("events", ()) if isinstance(u.data, dict) else u.data
                    batch = list(batch)[: max(0, EVENTS_KEPT - events)]
                    events += len(batch)
                    if batch:
                        updates.append(["events", batch])
                elif u.kind in ("snapshot", "stats"):
                    updates.append([u.kind, u.data])

        follower = asyncio.create_task(follow())
        loop = asyncio.get_running_loop()
        end, n = loop.time() + seconds, 0
        while loop.time() < end:
            n += 1
            prompt = {"prompt": f"question {n % 7}"}
            await eng.run(flows.chat, prompt, Context(eng))
            if n % 5 == 0:
                await eng.run(flows.fanout, {"prompt": f"fan {n}"}, Context(eng))
            if n % 9 == 0:
                await flows.memory.add(f"turn-{n}", {"user": f"question {n}", "answer": "ok"})
        await asyncio.sleep(1.2)  # the last stats
        follower.cancel()
        await eng.close()
    return {"updates": updates}


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else RECORDING
    out.write_text(json.dumps(asyncio.run(record()), indent=1, default=repr))
