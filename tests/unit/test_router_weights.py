"""Weighted-split tables, stable key buckets and budget windows (pure parts)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flowdeck.engine.errors import BadParams
from flowdeck.engine.primitives import weights as W
from flowdeck.engine.providers import budget as B
from flowdeck.engine.telemetry.events import EventBus, EventKind

ROUTES = {"stable": None, "canary": None, "off": None}


def test_the_table_holds_each_share_exactly() -> None:
    table = W.bucket_table({"stable": 90.0, "canary": 10.0, "off": 0.0})
    assert len(table) == W.BUCKETS
    assert table.count("canary") == 1000 and table.count("stable") == 9000
    assert "off" not in table
    odd = W.bucket_table({"a": 1.0, "b": 1.0, "c": 1.0})
    assert len(odd) == W.BUCKETS and {odd.count(r) for r in "abc"} <= {3333, 3334}
    tiny = W.bucket_table({"a": 1_000_000.0, "b": 1.0})
    assert tiny.count("b") == 1  # a weight above 0 keeps at least one bucket


def test_growing_a_route_only_moves_keys_onto_it() -> None:
    before = W.bucket_table({"stable": 90.0, "canary": 10.0})
    after = W.bucket_table({"stable": 80.0, "canary": 20.0})
    moved = [i for i in range(W.BUCKETS) if before[i] != after[i]]
    assert len(moved) == 1000
    assert all(before[i] == "stable" and after[i] == "canary" for i in moved)


def test_key_buckets_are_the_same_in_another_process() -> None:
    here = [W.bucket_of(k) for k in ("user-1", "user-2", 12345, "ü")]
    code = (
        "from flowdeck.engine.primitives.weights import bucket_of;"
        "print([bucket_of(k) for k in ('user-1', 'user-2', 12345, 'ü')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(here)
    assert all(0 <= b < W.BUCKETS for b in here)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "map of route"),
        ({"nope": 1}, "'nope', which is not a route"),
        ({"stable": -1}, "from 0 to"),
        ({"stable": float("nan")}, "must be a number"),
        ({"stable": "9"}, "must be a number"),
        ({"stable": 0, "canary": 0}, "at least one weight"),
        ({"stable": 2e6}, "from 0 to"),
    ],
)
def test_bad_weights_say_what_is_wrong(weights: dict[str, object], message: str) -> None:
    with pytest.raises(BadParams, match=message):
        W.check_weights("r", ROUTES, weights)


def test_unlisted_routes_weigh_zero() -> None:
    assert W.check_weights("r", ROUTES, {"stable": 3}) == {"stable": 3.0, "canary": 0.0, "off": 0.0}


def test_a_budget_runs_out_once_per_window_and_resets() -> None:
    now = [7200.0 + 59.0 * 60]  # 02:59 UTC of day 0
    bus = EventBus(64)
    b = B.Budget("fast", "tier", 1.0, "hour", bus, clock=lambda: now[0])
    b.spend(0.6)
    assert not b.exhausted() and b.describe()["remaining"] == pytest.approx(0.4)
    b.spend(0.6)
    b.spend(0.1)
    assert b.exhausted() and b.exhausted_count == 1
    d = b.describe()
    assert d["remaining"] == 0 and d["resets_in"] == pytest.approx(60.0)
    assert [tuple(e[2:]) for e in bus.recent(64)] == [
        (EventKind.BUDGET, "fast", "exhausted", 1.2, 1.0)
    ]
    now[0] += 61.0  # 03:00:01: a new window
    assert not b.exhausted() and b.describe()["spent"] == 0 and b.total == pytest.approx(1.3)
    with pytest.raises(ValueError, match="period"):
        B.Budget("x", "tier", 1.0, "week", bus)
