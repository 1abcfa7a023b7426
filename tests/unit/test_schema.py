"""The wire contract's reply shapes match what the engine really sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowdeck.engine import Engine
from flowdeck.engine.control import schema
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
