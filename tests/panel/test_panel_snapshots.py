"""Snapshot tests: every view rendered from a frozen state, compared with committed SVGs.

The state is replayed from ``snapshots/recording.json`` (no live engine), so the
output is the same on every run. After an intended change of the look, re-create the
SVGs with ``FLOWDECK_UPDATE_SNAPSHOTS=1 python -m pytest tests/panel/test_panel_snapshots.py``
and look at them before committing. A mismatch writes the new rendering beside the
test's tmp dir and names it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.frozen import (
    frozen_provider_state,
    frozen_router_state,
    frozen_state,
)
from tests.support.snapshots import compare, frozen_app, settle

CASES = [
    ("overview", "1", (120, 40)),
    ("caches", "2", (120, 40)),
    ("routers", "3", (120, 40)),
    ("timelines", "4", (120, 40)),
    ("memory", "5", (120, 40)),
    ("events", "6", (120, 40)),
    ("overview", "1", (80, 24)),
    ("caches", "2", (80, 24)),
    ("providers", "8", (120, 40)),
    ("providers", "8", (80, 24)),
    ("routers", "3", (80, 24)),
]
STATES = {"8": frozen_provider_state, "3": frozen_router_state}
"""Views whose snapshot needs state the recording lacks (cooldowns, weights)."""


pytestmark = pytest.mark.usefixtures("utc")


async def render(key: str, size: tuple[int, int], tmp_path: Path) -> str:
    app = frozen_app(tmp_path, STATES.get(key, frozen_state)())
    async with app.run_test(size=size) as pilot:
        await pilot.press(key)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        app._tick()
        return await settle(app, pilot)


@pytest.mark.parametrize(
    ("view", "key", "size"), CASES, ids=[f"{v}-{w}x{h}" for v, _, (w, h) in CASES]
)
async def test_view_matches_its_snapshot(
    view: str, key: str, size: tuple[int, int], tmp_path: Path
) -> None:
    svg = await render(key, size, tmp_path)
    compare(f"{view}-{size[0]}x{size[1]}.svg", svg, tmp_path)
