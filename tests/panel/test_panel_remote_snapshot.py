"""SVG snapshots of RemoteEngineScreen: an engine of another host, shown from its
heartbeat (frozen fleet, fixed clock). Re-create with ``FLOWDECK_UPDATE_SNAPSHOTS=1``
(see test_panel_snapshots.py) and look before committing."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowdeck.panel.fleet.remote import RemoteEngineScreen
from tests.support.frozen_fleet import frozen_fleet
from tests.support.snapshots import compare, frozen_app, screen_svg
from tests.support.waiting import until

pytestmark = pytest.mark.usefixtures("utc")


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_remote_engine_screen_matches_its_snapshot(
    size: tuple[int, int], tmp_path: Path
) -> None:
    feed = frozen_fleet()
    late = next(eid for eid, m in feed.members.items() if m.engine.host == "web-2")
    svg = await screen_svg(RemoteEngineScreen(feed, late), feed, size, tmp_path)
    assert "secret" not in svg
    compare(f"remote-engine-{size[0]}x{size[1]}.svg", svg, tmp_path)


async def test_operator_keys_on_a_remote_engine_say_where_to_act(tmp_path: Path) -> None:
    """f (flush) here would reach the attached engine, not the one shown: it explains."""
    feed = frozen_fleet()
    remote = next(iter(feed.members))
    app = frozen_app(tmp_path)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            app.push_screen(RemoteEngineScreen(feed, remote))
            await pilot.pause()
            await pilot.press("f")
            await until(lambda: any(n.title == "Not from here" for n in app._notifications))
            assert isinstance(app.screen, RemoteEngineScreen)  # no dialog opened
    finally:
        await feed.stop()
