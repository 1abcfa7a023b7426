"""The Fleet view as a person meets it: pause holds the tables, a long router split is
fitted (never cut by a column cap), and an empty fleet says what it means."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.fleet.redis_feed import RedisFleetFeed
from flowdeck.panel.fleet.screen import FleetScreen, split_text
from flowdeck.panel.widgets.live_table import LiveTable
from tests.support.frozen import SOCKET_SHOWN, frozen_state
from tests.support.frozen_fleet import frozen_fleet
from tests.support.panel import notes
from tests.support.waiting import until


def frozen_app(tmp_path: Path) -> FlowdeckApp:
    return FlowdeckApp(
        socket=SOCKET_SHOWN,
        embed=False,
        refresh=0.5,
        user_theme_dir=tmp_path / "themes",
        state=frozen_state(),
    )


def totals_line(screen: FleetScreen, key: str) -> str:
    table = screen.query_one("#fleet-totals", LiveTable)
    row = table.get_row_index(key)
    return table.render_line(row + 1).text  # line 0 is the header


def hits(screen: FleetScreen) -> str:
    table = screen.query_one("#fleet-totals", LiveTable)
    return str(table.get_cell("cache:llm", "hits"))


async def test_pause_in_the_fleet_view_holds_the_tables_and_says_so(tmp_path: Path) -> None:
    feed = frozen_fleet()
    app = frozen_app(tmp_path)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = FleetScreen(feed, refresh=0.1)
            app.push_screen(screen)
            await pilot.pause()
            await until(lambda: hits(screen) not in ("", "0"))
            before = hits(screen)
            await pilot.press("space")
            await until(lambda: "PAUSED" in screen.header_text())
            for member in feed.members.values():  # new heartbeats arrive meanwhile
                member.engine.stats["caches"]["llm"]["hits"] += 1000
            painted = screen.repaints
            await until(lambda: screen.repaints >= painted + 3)
            assert hits(screen) == before
            await pilot.press("space")
            await until(lambda: hits(screen) != before)
            assert "PAUSED" not in screen.header_text()
    finally:
        await feed.stop()


async def test_a_long_router_split_is_fitted_whole_not_cut_by_the_column_cap(
    tmp_path: Path,
) -> None:
    split = {"interactive-fast": 500, "balanced-default": 300, "quality-large": 200}
    feed = frozen_fleet(split)
    app = frozen_app(tmp_path)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            screen = FleetScreen(feed, refresh=0.5)
            app.push_screen(screen)
            await pilot.pause()
            await until(lambda: screen.query_one("#fleet-totals", LiveTable).row_count > 3)
            await pilot.pause()
            line = totals_line(screen, "router:tiers")
            whole = split_text({k: v / 1000 for k, v in split.items()})
            assert len(whole) > 32  # longer than an ordinary column may grow
            assert whole in line and "…" not in line, line
    finally:
        await feed.stop()


async def test_an_empty_fleet_says_no_engine_runs_instead_of_keys(tmp_path: Path) -> None:
    feed = RedisFleetFeed("redis://127.0.0.1:1/0", "prod")  # never scanned: no members
    app = frozen_app(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = FleetScreen(feed, refresh=0.5)
            app.push_screen(screen)
            await pilot.pause()
            hint = str(screen.query_one("#fleet-hint").render())
            assert "No engine is running" in hint and "comes back" not in hint, hint
            offered = {b.binding.action for b in app.active_bindings.values()}
            assert not {a for a in offered if a.startswith("act(")}, offered  # nothing to act on
            assert "pause" in offered and "quit_panel" in offered
    finally:
        await feed.stop()


async def test_plus_and_minus_in_the_fleet_view_change_its_own_repaint_interval(
    tmp_path: Path,
) -> None:
    feed = frozen_fleet()
    app = frozen_app(tmp_path)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            screen = FleetScreen(feed, refresh=0.5)
            app.push_screen(screen)
            await pilot.pause()
            assert "every 0.5s" in screen.header_text()
            await pilot.press("plus")
            assert screen.refresh_every == 0.25
            assert app.refresh_rate == 0.5  # the app's refresh (engine views) is its own
            await until(lambda: "every 0.25s" in str(screen.query_one("#fleet-header").render()))
            assert any("Fleet view repaints every 0.25 s" in n for n in notes(app))
            painted = screen.repaints
            await until(lambda: screen.repaints >= painted + 2)  # the new timer repaints
            for _ in range(6):
                await pilot.press("plus")
            assert screen.refresh_every == 0.1  # bounded as the app's refresh
            for _ in range(12):
                await pilot.press("minus")
            assert screen.refresh_every == 10.0
            assert app.refresh_rate == 0.5
            assert app.fleet_refresh == 10.0  # kept for the next visit to the Fleet view
            await pilot.press("minus")
            assert "every 10s" in screen.header_text()
    finally:
        await feed.stop()


async def test_with_more_engines_than_rows_the_totals_and_the_hint_stay_on_screen(
    tmp_path: Path,
) -> None:
    """Forty workers: the engines table scrolls in its share of the screen instead of
    pushing the totals (the actions' targets) and the key hint below the bottom edge."""
    import dataclasses

    from flowdeck.panel.fleet.redis_feed import RemoteMember

    feed = frozen_fleet()
    first = next(iter(feed.members.values())).engine
    for i in range(40):
        eid = f"{i + 10:02d}beef{i:010d}"
        feed.members[eid] = RemoteMember(dataclasses.replace(first, id=eid, pid=20_000 + i))
    async with fleet_shown(tmp_path, feed, (80, 24), 45) as screen:
        engines = screen.query_one("#fleet-engines", LiveTable)
        totals = screen.query_one("#fleet-totals", LiveTable)
        assert totals.row_count == 4
        assert 0 < engines.region.height < 24
        assert totals.region.height >= 3 and totals.region.bottom <= 23, totals.region
        hint = screen.query_one("#fleet-hint")
        assert hint.region.height > 0 and hint.region.bottom <= 23, hint.region


async def test_a_narrow_fleet_view_drops_columns_and_keeps_the_age_whole(tmp_path: Path) -> None:
    """At 60 columns a gone engine still reads "gone 12s ago" (the age column was cut
    off, so the row looked live); the least useful columns go instead."""
    async with fleet_shown(tmp_path, frozen_fleet(), (60, 20), 5) as screen:
        engines = screen.query_one("#fleet-engines", LiveTable)
        shown = [c.key for c in engines.spec]
        assert {"name", "pid", "req/s", "age"} <= set(shown) and "uptime" not in shown
        lines = [engines.render_line(y).text for y in range(engines.size.height)]
        assert any("gone 12s ago" in line for line in lines), lines
        assert engines.virtual_size.width <= engines.size.width


@contextlib.asynccontextmanager
async def fleet_shown(
    tmp_path: Path, feed: RedisFleetFeed, size: tuple[int, int], rows: int
) -> AsyncIterator[FleetScreen]:
    """The Fleet view of ``feed`` over a frozen app at ``size``, its engines table
    showing ``rows`` rows; the feed is stopped afterwards."""
    app = frozen_app(tmp_path)
    try:
        async with app.run_test(size=size) as pilot:
            screen = FleetScreen(feed, refresh=0.5)
            app.push_screen(screen)
            await pilot.pause()
            engines = screen.query_one("#fleet-engines", LiveTable)
            await until(lambda: engines.row_count == rows)
            await pilot.pause()
            yield screen
    finally:
        await feed.stop()
