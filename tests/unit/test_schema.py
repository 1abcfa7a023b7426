"""The wire contract's reply shapes match what the engine really sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowdeck.engine import Engine
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control import schema
from flowdeck.engine.control.client import ControlClient
from tests.support.control import build_flows, control_settings


def keys_of(td: Any) -> tuple[set[str], set[str]]:
    return set(td.__required_keys__), set(td.__optional_keys__)


def assert_shape(value: dict[str, Any], td: Any, where: str) -> None:
    required, optional = keys_of(td)
    missing = required - set(value)
    extra = set(value) - required - optional
    assert not missing and not extra, f"{where}: missing {missing}, not declared {extra}"


async def test_snapshot_describe_and_stats_match_their_typed_dicts(tmp_path: Path) -> None:
    eng = Engine(control_settings(tmp_path / "e.sock", control=False))
    build_flows(eng)
    snap = eng.snapshot()
    assert_shape(snap, schema.Snapshot, "snapshot")
    assert_shape(snap["workload"], schema.Workload, "workload")
    stats = eng.stats()
    assert_shape(stats, schema.Stats, "stats")
    for group, td in schema.DESCRIBE_TYPES.items():
        assert snap[group], group
        for name, described in snap[group].items():
            assert_shape(described, td, f"{group}.{name}.describe()")
            assert_shape(described["stats"], schema.STATS_TYPES[group], f"{group}.{name}.stats")
            assert_shape(stats[group][name], schema.STATS_TYPES[group], f"stats.{group}.{name}")


def test_config_fields_live_at_one_level_only() -> None:
    """ttl / max_size / l2 are in describe(); stats() carries counters only."""
    for group, td in schema.DESCRIBE_TYPES.items():
        config = keys_of(td)[0] - {"name", "kind", "stats", "routes"}  # routes: names vs counts
        assert not config & keys_of(schema.STATS_TYPES[group])[0], group


async def test_provider_health_and_write_and_search_replies_match_their_typed_dicts(
    tmp_path: Path,
) -> None:
    """Provider health and budgets of a started engine, and replies as a client gets them
    over the socket, each against its schema type."""
    sock = tmp_path / "e.sock"
    eng = Engine(control_settings(sock, budgets={"p1": {"usd": 5, "period": "hour"}}))
    flows = build_flows(eng)
    await eng.start()
    try:
        await eng.run(flows["cache"], {"prompt": "hi"})
        snap, stats = eng.snapshot(), eng.stats()
        for where in (snap, stats):
            assert set(where["providers"]) == {"p1", "p2"} and set(where["budgets"]) == {"p1"}
            for name, health in where["providers"].items():
                assert_shape(health, schema.ProviderHealth, f"providers.{name}")
            assert_shape(where["budgets"]["p1"], schema.BudgetState, "budgets.p1")
        assert_shape(snap["providers"]["p1"]["budget"], schema.BudgetState, "p1.budget")
        await flows["mem"].add("k1", "a note about primitives")
        client = await ControlClient.connect(sock, 5.0)
        try:
            flush = await client.call(P.CACHE_FLUSH, {"name": "*"})
            assert_shape(flush, schema.FlushReply, "cache.flush")
            for name, counts in flush["flushed"].items():
                assert_shape(counts, schema.Flushed, f"cache.flush {name}")
            assert flush["flushed"]["llm"]["l1"] == 1 and flush["flushed"]["llm"]["l2"] is None
            found = await client.call(P.MEMORY_SEARCH, {"name": "mem", "keywords": "primitives"})
            assert_shape(found, schema.SearchReply, "memory.search")
            assert [r["key"] for r in found["results"]] == ["k1"]
            assert_shape(found["results"][0], schema.SearchResult, "memory.search result")
            cleared = await client.call(P.MEMORY_CLEAR, {"name": "mem"})
            assert_shape(cleared, schema.ClearReply, "memory.clear")
            assert cleared["cleared"] == {"mem": 1}
            ttl = await client.call(P.CACHE_SET_TTL, {"name": "llm", "ttl": 30})
            assert_shape(ttl, schema.CacheWriteReply, "cache.set_ttl")
            pin = await client.call(P.ROUTER_PIN, {"name": "plain", "route": "a"})
            assert_shape(pin, schema.RouterWriteReply, "router.pin")
        finally:
            await client.close()
    finally:
        await eng.close()
