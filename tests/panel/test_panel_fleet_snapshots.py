"""SVG snapshots of the Fleet view over Redis and of the Audit view, from frozen data.

The fleet is four engines on three hosts built from the recorded demo stats (one late,
one stale), against a fixed clock; the audit records are fixed too. Re-create with
``FLOWDECK_UPDATE_SNAPSHOTS=1`` (see test_panel_snapshots.py) and look before committing.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from flowdeck.panel.fleet.screen import FleetScreen
from tests.support.frozen import TS_OFFSET, frozen_state
from tests.support.frozen_fleet import frozen_fleet
from tests.support.snapshots import compare, frozen_app, screen_svg, settle

pytestmark = pytest.mark.usefixtures("utc")


AUDIT = [
    {"time": TS_OFFSET + 10, "actor": {"uid": 1000, "user": "alice", "host": "web-1",
     "client": "panel", "pid": 5001}, "scope": "socket", "method": "cache.flush",
     "params": {"name": "llm"}, "before": 7, "after": {"l1": 7, "l2": 0},
     "result": "applied", "detail": None, "command": None},
    {"time": TS_OFFSET + 70, "actor": {"uid": 1000, "user": "bob", "host": "ops-1",
     "client": "ctl", "pid": 6100}, "scope": "fleet", "method": "cache.set_ttl",
     "params": {"name": "llm", "ttl": 30}, "before": 600, "after": 30,
     "result": "applied", "detail": None, "command": "ab12cd34ef56"},
    {"time": TS_OFFSET + 95, "actor": {"uid": 0, "host": "ops-1", "client": "ctl",
     "pid": 6200}, "scope": "fleet", "method": "router.pin",
     "params": {"name": "tiers", "route": "quality"}, "before": None, "after": None,
     "result": "read_only", "detail": "engine is read-only", "command": "9f8e7d6c"},
]  # fmt: skip


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_fleet_view_over_redis_matches_its_snapshot(
    size: tuple[int, int], tmp_path: Path
) -> None:
    feed = frozen_fleet()
    screen = FleetScreen(feed, refresh=0.5)

    def no_secret_in_the_header() -> None:
        assert "password" not in screen.header_text() and "secret" not in screen.header_text()

    svg = await screen_svg(screen, feed, size, tmp_path, no_secret_in_the_header)
    assert "secret" not in svg
    compare(f"fleet-redis-{size[0]}x{size[1]}.svg", svg, tmp_path)


async def test_audit_view_matches_its_snapshot(tmp_path: Path) -> None:
    state = frozen_state()
    state.snapshot["audit"] = copy.deepcopy(AUDIT)
    app = frozen_app(tmp_path, state)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("7")
        app._tick()
        svg = await settle(app, pilot)
    compare("audit-120x40.svg", svg, tmp_path)
