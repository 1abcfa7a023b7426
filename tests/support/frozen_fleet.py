"""A frozen fleet for the Fleet view's tests: four engines on three hosts built from the
recorded demo stats (one late, one stale), against a fixed clock, seen through Redis."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from flowdeck.engine.fleet.reader import FleetEngine
from flowdeck.panel.fleet.redis_feed import RedisFleetFeed, RemoteMember
from tests.support.frozen import RECORDING, TS_OFFSET

NOW = TS_OFFSET + 3600.0


def recorded_stats() -> dict[str, Any]:
    updates = json.loads(RECORDING.read_text())["updates"]
    stats: dict[str, Any] = [p for k, p in updates if k == "stats"][-1]
    return stats


ENGINES = [("web-1", 4711, 0.4, 1.0), ("web-1", 4712, 0.6, 0.5), ("web-2", 812, 2.8, 2.0),
           ("batch-1", 90210, 4.0, 0.1)]  # fmt: skip
"""host, pid, age of the last beat, traffic scale: one late (web-2), one stale (batch-1)."""


SPLIT = {"fast": 740, "balanced": 180, "quality": 80}


def frozen_fleet(split: dict[str, int] | None = None) -> RedisFleetFeed:
    """The fleet; ``split``: the router's count per route (default ``SPLIT``; routes it
    names that the recording lacks are added)."""
    split = SPLIT if split is None else split
    feed = RedisFleetFeed("redis://:secret@10.0.0.5:6379/0", "prod", clock=lambda: NOW)
    base = recorded_stats()
    for i, (host, pid, age, scale) in enumerate(ENGINES):
        stats = copy.deepcopy(base)
        for c in stats["caches"].values():
            c["hits"], c["misses"] = int(c["hits"] * scale), int(c["misses"] * scale)
        routes = stats["routers"]["tiers"]["routes"]
        for route, n in split.items():  # three ways by default: the longest text shown
            routes.setdefault(route, copy.deepcopy(routes["fast"]))["count"] = int(n * scale)
        counters = {
            "runs": 100.0 * scale, "errors": float(i), "time": NOW - age,
            "hits": sum(c["hits"] for c in stats["caches"].values()),
            "misses": sum(c["misses"] for c in stats["caches"].values()),
        }  # fmt: skip
        stats["_counters"] = counters
        stats["redis"] = {"up": True}
        eid = f"{i:02d}c0ffee{pid:08d}"
        engine = FleetEngine(
            id=eid, name="api" if i < 3 else "worker", host=host, pid=pid,
            started_at=NOW - 5000 * (i + 1), version="0.1.0", read_only=i == 1,
            socket=None, seen=NOW - age, age=age, interval=1.0, stale=age > 2.5,
            stats=stats, rates={"runs": 12.5 * scale},
        )  # fmt: skip
        feed.members[eid] = RemoteMember(engine)
    # A fifth engine whose heartbeat expired 12 s ago: the gone row under the live ones.
    gone = RemoteMember(
        dataclasses.replace(engine, id="04c0ffee00009999", host="batch-2", pid=9999)
    )
    feed.departed[gone.engine.id] = (gone.row(NOW - 12), NOW - 12)
    return feed
