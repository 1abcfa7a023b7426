"""Pilot tests of keyboard navigation the way an operator uses it: no programmatic focus."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Button, Input, Label, OptionList, TabbedContent

from flowdeck.panel.fleet.screen import FleetScreen
from flowdeck.panel.modals.confirm import ConfirmModal
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from flowdeck.panel.widgets.event_tail import EventTail
from flowdeck.panel.widgets.live_table import LiveTable
from tests.support.panel import (
    SIZE,
    Rig,
    attached,
    event_filter_applied,
    footer_actions,
    make_app,
    show_table,
)
from tests.support.waiting import until


async def test_view_keys_switch_from_any_focus_and_focus_the_table(
    rig: Rig, tmp_path: Path
) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        tabs = app.query_one("#tabs", TabbedContent)
        await pilot.press("2")
        table = app.query_one("#cache-table", LiveTable)
        await until(lambda: table.row_count == 2)
        # The table has the focus at once: s sorts, arrows select.
        assert app.focused is table
        await pilot.press("s")
        assert table.sort_column == "layers"
        # From a focused table (or a clicked button) every view key still switches.
        await pilot.press("5")
        assert tabs.active == "memory"
        assert app.focused is app.query_one("#memory-table")
        await pilot.press("6")
        assert tabs.active == "events"
        assert app.focused is app.query_one(EventTail)
        await pilot.press("2")
        await pilot.click("#btn-flush-all")
        await pilot.click("#no")
        await until(lambda: not app.screen.is_modal)
        assert isinstance(app.focused, Button)
        await pilot.press("3")
        assert tabs.active == "routers"
        assert app.focused is app.query_one("#route-table")
        # Escape from a filter box, then a view key: the view changes, nothing is typed.
        await pilot.press("slash", "x", "escape", "1")
        assert tabs.active == "overview"
        await pilot.press("3")
        assert app.query_one("#route-filter", Input).value == "x"
        # Enter in a filter box applies it and leaves the box the same way.
        await pilot.press("2", "slash", "l", "enter")
        cache_table = app.query_one("#cache-table", LiveTable)
        assert app.focused is cache_table
        assert cache_table.filter_text == "l"
        await pilot.press("3")
        assert tabs.active == "routers"
        assert app.query_one("#cache-filter", Input).value == "l"
        # The memory search box keeps the keys after Enter (the next query is typed
        # there); Escape hands them back.
        await pilot.press("5", "slash", *"hello", "enter")
        assert app.focused is app.query_one("#memory-search", Input)
        await pilot.press("escape", "1")
        assert tabs.active == "overview"


async def test_event_log_follows_new_events_until_scrolled_up(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.press("6")
        tail = app.query_one(EventTail)

        def laid_out(rows: int) -> Callable[[], bool]:
            return lambda: len(tail.rows) >= rows and tail.max_scroll_y > 0

        for _ in range(3):  # the first rows arrive before the log was ever laid out
            await rig.chat(30)
            seen = app.state.events_total
            await until(laid_out(seen))
            await until(lambda: tail.scroll_y == tail.max_scroll_y)
        await pilot.press("home")  # scrolled up: stays where the operator put it
        await until(lambda: tail.scroll_y == 0)
        rows = len(tail.rows)
        await rig.chat(30)
        await until(lambda: len(tail.rows) > rows)
        await pilot.pause()
        assert tail.scroll_y == 0
        await pilot.press("end")  # back at the end: follows again
        rows = len(tail.rows)
        await rig.chat(30)
        await until(lambda: len(tail.rows) > rows)
        await until(lambda: tail.scroll_y == tail.max_scroll_y)


async def test_home_stays_at_the_top_when_events_arrive_at_once(rig: Rig, tmp_path: Path) -> None:
    """Home, then a batch of events before any animation frame: the log stays at the top
    (an animated scroll left it following, and the batch pulled it back to the end)."""
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.press("6")
        tail = app.query_one(EventTail)
        await rig.chat(30)
        await until(lambda: tail.max_scroll_y > 0 and tail.scroll_y == tail.max_scroll_y)
        app.paused = True  # only this test's rows reach the log from here on
        # what Home does, then a batch before the next frame (no yield in between)
        tail.action_scroll_home()
        last = tail.rows[-1][0]
        tail.set_rows([*tail.rows, *([last + i, *tail.rows[-1][1:]] for i in range(1, 40))])
        await pilot.pause()
        assert tail.scroll_y == 0 and not tail.following
        await pilot.press("end")
        await until(lambda: tail.scroll_y == tail.max_scroll_y and tail.following)


async def test_filter_keeps_its_matches_after_they_leave_the_ring(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        app.state.events = deque(app.state.events, maxlen=100)  # seconds of a busy engine
        await pilot.press("6", "slash", *"cache.flush")
        tail = app.query_one(EventTail)
        await event_filter_applied(app, "cache.flush")
        await rig.eng.caches["fanout-cache"].flush()
        await until(lambda: any(ev[2] == "cache.flush" for ev in tail.rows))
        flush = next(ev for ev in tail.rows if ev[2] == "cache.flush")
        total = app.state.events_total
        await rig.chat(150)  # several ring-fulls of other events
        await until(lambda: app.state.events_total > total + 300)
        await until(lambda: all(ev is not flush for ev in app.state.events))
        await pilot.pause(0.3)  # a few repaints with the flush gone from the ring
        assert flush in tail.rows
        assert "1 shown" in str(app.query_one("#event-count", Label).render())
        # a new filter starts again from what the ring holds
        app.query_one("#event-filter", Input).value = "cache.miss"
        await until(lambda: tail.rows and all(ev[2] == "cache.miss" for ev in tail.rows))


async def test_scrolled_up_log_stays_on_the_same_events_as_old_ones_leave(
    rig: Rig, tmp_path: Path
) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        app.state.events = deque(app.state.events, maxlen=300)
        await pilot.press("6")
        tail = app.query_one(EventTail)
        await rig.chat(120)
        await until(lambda: len(tail.rows) == 300 and tail.max_scroll_y > 100)
        await until(lambda: tail.rows[-1][0] == rig.eng.bus.seq)  # every event arrived
        # force: between layouts (a new row, the scrollbar) the view may not yet know it
        # can scroll, and an unforced scroll_to is then dropped without a word.
        tail.scroll_to(y=200, animate=False, immediate=True, force=True)
        # Not "scroll_y == 200": a late event moves the front, and the view with it.
        await until(lambda: 100 < round(tail.scroll_y) <= 200 and not tail.following)
        top = tail.rows[round(tail.scroll_y)][0]
        first = tail.rows[0][0]
        await rig.chat(10)  # the front of the ring moves on by fewer than 200 events
        await until(lambda: tail.rows[0][0] > first)
        await pilot.pause()
        assert tail.rows[0][0] < top, "the test needs the top event still in the ring"
        assert tail.rows[round(tail.scroll_y)][0] == top


async def test_bracketed_text_is_shown_as_typed_not_parsed_as_markup(
    rig: Rig, tmp_path: Path
) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.press("2", "t")
        await until(lambda: isinstance(app.screen, NumberModal))
        await pilot.press(*"[/x]", "enter")  # was a MarkupError: the panel died
        error = app.screen.query_one("#error", Label)
        await until(lambda: "'[/x]' is not a duration" in str(error.render()))
        await pilot.press("escape")
        await until(lambda: not app.screen.is_modal)
        await pilot.press("6", "slash", *"[/b]")
        count = app.query_one("#event-count", Label)
        await until(lambda: "(filter: [/b])" in str(count.render()))
        app.notify("a [/c] b")  # notifications carry typed input and engine answers
        await pilot.pause()
        # A pick list keeps its bracketed marks ("[first now]", "[pinned now]").
        await pilot.press("escape", "3", "R")
        await until(lambda: isinstance(app.screen, PickModal))
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(label.endswith("[first now]") for label in labels), labels
        assert app.is_running


async def test_flush_confirmation_names_the_layers_of_the_cache(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.press("2", "f")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        message = str(app.screen.query_one(".help", Label).render())
        assert message.endswith("entries will be dropped (L1).")  # the demo caches are L1 only


async def test_a_broken_theme_file_does_not_claim_to_replace_the_chosen_theme(
    rig: Rig, tmp_path: Path
) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\ndark = maybe\n')
    app = make_app(rig.sock, tmp_path, theme="light")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "light"
        shown = [(n.title, n.message) for n in app._notifications]
        assert len(shown) == 1 and "broken.toml" in shown[0][1], shown
        assert "dark" not in shown[0][1].split(":", 1)[1], shown  # light is in use, as asked


async def test_routing_split_says_what_its_two_numbers_are_when_it_fits(
    rig: Rig, tmp_path: Path
) -> None:
    from flowdeck.panel.widgets.route_split import RouteSplit

    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        split = app.query_one(RouteSplit)
        wide = [str(line) for line in split.render_state(100)]
        assert wide[0].startswith("tiers") and wide[0].endswith("last 5s (all time)")
        narrow = [str(line) for line in split.render_state(36)]  # the overview at 80x24
        assert narrow[0].startswith("tiers") and "last 5s" not in narrow[0]
        assert all(len(line) <= 36 for line in narrow)


async def test_the_fleet_key_from_a_socket_engine_goes_back_with_escape_still_live(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``panel --socket S`` then 0: the Fleet view of this host (S is not in its runtime
    dir: empty here); Escape returns to S, and its views still follow the engine."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.press("0")
        await until(lambda: isinstance(app.screen, FleetScreen))
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        await until(
            lambda: "esc goes back to the engine" in str(fleet.query_one("#fleet-hint").render())
        )
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, FleetScreen))
        seen = app.state.events_total
        await rig.chat(10)
        await until(lambda: app.state.events_total > seen)  # still live: the feed kept going
        assert app.state.connected
        await pilot.press("2")
        await until(lambda: app.active_view is app.views["caches"])


async def test_the_caches_table_keeps_the_savings_on_screen_at_80_columns(
    rig: Rig, tmp_path: Path
) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await attached(pilot)
        await pilot.press("2")
        table = app.query_one("#cache-table", LiveTable)
        await until(lambda: table.row_count >= 2)
        assert [c.key for c in table.spec][:2] == ["name", "layers"]
        await pilot.resize_terminal(80, 24)
        await until(lambda: "layers" not in [c.key for c in table.spec])
        await until(lambda: table.row_count >= 2)  # rows back in the narrower columns
        keys = [c.key for c in table.spec]
        assert keys[-2:] == ["time_saved", "cost_saved"] and "evictions" not in keys
        await until(lambda: sum(c.get_render_width(table) for c in table.columns.values()) <= 80)
        await pilot.resize_terminal(120, 40)
        await until(lambda: "layers" in [c.key for c in table.spec])


FOOTERS = {
    "1": ("overview", []),
    "2": ("caches", ["flush", "flush_all", "set_ttl", "set_size"]),
    "3": ("routers", ["pin", "unpin", "remap", "set_weights"]),
    "5": ("memory", ["search", "clear_memory"]),
    "6": ("events", ["filter"]),
    "8": ("providers", ["resume_provider", "drain_provider", "filter"]),
}


async def test_each_view_footer_offers_its_own_keys_and_the_general_ones(
    rig: Rig, tmp_path: Path
) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await attached(pilot)
        tabs = app.query_one("#tabs", TabbedContent)
        for key, (view, actions) in FOOTERS.items():
            await pilot.press(key)
            assert tabs.active == view
            shown = footer_actions(app)
            # the view's actions first, in order, then the general keys; nothing else
            assert shown == [*actions, "help", "pause", "quit"], (view, shown)
        # The keys act from every view, shown or not: f on the Routers view still flushes.
        await pilot.press("3", "f")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_with_more_caches_than_rows_the_detail_and_buttons_stay_on_screen(
    rig: Rig, tmp_path: Path, size: tuple[int, int]
) -> None:
    """The table scrolls; it does not push the selected cache's box and the action
    buttons below the bottom edge (they were out of reach with a few dozen caches)."""
    from flowdeck.engine import Cache, Step

    async def echo(data: object) -> str:
        return "ok"

    for i in range(60):
        rig.eng.add(Cache(Step(echo), name=f"extra{i:02d}", ttl=60, max_size=8))
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=size) as pilot:
        await attached(pilot)
        table = await show_table(pilot, "2", "cache-table", 62)
        await pilot.pause()
        height = app.screen.size.height
        for selector in ("#cache-detail", "#btn-flush", "#btn-set-size"):
            region = app.query_one(selector).region
            assert region.height > 0 and region.bottom <= height - 1, (selector, region)
        assert 0 < table.region.height < 62


@pytest.mark.parametrize("size", [(100, 30), (110, 30), (80, 24)])
async def test_the_caches_table_fits_its_width_without_scrolling_sideways(
    rig: Rig, tmp_path: Path, size: tuple[int, int]
) -> None:
    """At 100 columns every column was shown and the last one cut ("$ s")."""
    await rig.chat(5)
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=size) as pilot:
        await attached(pilot)
        table = await show_table(pilot, "2", "cache-table", 2)
        await until(lambda: table.virtual_size.width <= table.size.width)
        assert "cost_saved" in [c.key for c in table.spec]
