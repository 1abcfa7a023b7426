"""Pilot tests of the panel against a real engine on a real control socket.

Each test starts an ``Engine`` with the demo settings (simulated providers with zero
latency) and the demo flows on a socket in a temp dir, runs the panel with
``App.run_test`` attached to that socket, and checks both the screen and the engine.

Long on purpose: the panel against one real engine, view by view.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.coordinate import Coordinate
from textual.widgets import Input, Label, OptionList, TabbedContent
from textual.widgets.data_table import ColumnKey

from flowdeck.panel import fmt
from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.modals.confirm import ConfirmModal
from flowdeck.panel.modals.help import HelpModal
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from flowdeck.panel.selection import Selection
from flowdeck.panel.widgets.cache_detail import CacheDetail
from flowdeck.panel.widgets.event_tail import EventTail
from flowdeck.panel.widgets.header import StatusHeader
from flowdeck.panel.widgets.live_table import LiveTable
from tests.support.panel import (
    SIZE,
    Rig,
    attached,
    cell,
    event_filter_applied,
    exists,
    exported,
    footer_actions,
    header_text,
    make_app,
    modal_title,
    notes,
    palette,
    show_table,
)
from tests.support.waiting import until


# ---- attach and show -------------------------------------------------------------------
async def test_attach_shows_the_snapshot(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await until(lambda: "demo" in header_text(app))
        text = header_text(app)
        assert f"pid {os.getpid()}" in text
        assert app.state.group("caches").keys() == {"llm", "fanout-cache"}
        await show_table(pilot, "2", "cache-table", 2)
        assert cell(app, "cache-table", "llm", "ttl") == fmt.ttl(rig.eng.caches["llm"].ttl)
        await show_table(pilot, "3", "route-table", 3)
        await pilot.press("4", "5", "6", "1")
        assert app.query_one("#tabs", TabbedContent).active == "overview"


# ---- flush -----------------------------------------------------------------------------
async def test_flush_with_key_and_confirmation(rig: Rig, tmp_path: Path) -> None:
    cache = rig.eng.caches["llm"]
    assert cache.stats()["size"] > 0
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        table = await show_table(pilot, "2", "cache-table", 2)
        table.focus()
        table.move_cursor(row=table.get_row_index("llm"))
        size_before = cell(app, "cache-table", "llm", "size")
        assert not size_before.startswith("0/")
        await pilot.press("f")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")  # cancel first: nothing happens
        await until(lambda: not isinstance(app.screen, ConfirmModal))
        assert cache.stats()["size"] > 0
        await pilot.press("f")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(lambda: cache.stats()["size"] == 0)
        await until(lambda: cell(app, "cache-table", "llm", "size").startswith("0/"))
        await until(lambda: any("Flushed llm" in n for n in notes(app)))
        assert rig.eng.caches["fanout-cache"].stats()["size"] > 0  # only the selected one


# ---- TTL and size modals -----------------------------------------------------------------
async def test_ttl_modal_rejects_bad_input_and_sends_a_valid_ttl(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "2", "cache-table", 2, "llm")
        ttl_before = rig.eng.caches["llm"].ttl
        await pilot.press("t")
        await until(lambda: isinstance(app.screen, NumberModal))
        modal = app.screen
        for bad, problem in [
            ("abc", "not a duration"),
            ("-5", "greater than 0"),
            ("0", "greater than 0"),
            ("inf", "not finite"),
            ("nan", "not a number"),
        ]:
            modal.query_one(Input).value = bad
            await pilot.press("enter")
            error = str(modal.query_one("#error", Label).render())
            assert problem in error, (bad, error)
            assert app.screen is modal  # stays open
        assert rig.eng.caches["llm"].ttl == ttl_before
        modal.query_one(Input).value = "1.5"
        await pilot.press("enter")
        await until(lambda: rig.eng.caches["llm"].ttl == 1.5)
        await until(lambda: cell(app, "cache-table", "llm", "ttl") == "1.5s")
        await until(lambda: any("TTL of 'llm' is now 1.5s" in n for n in notes(app)))
        # max size: a fraction is refused, a whole number goes through
        await pilot.press("m")
        await until(lambda: isinstance(app.screen, NumberModal))
        app.screen.query_one(Input).value = "2.5"
        await pilot.press("enter")
        assert "whole number" in str(app.screen.query_one("#error", Label).render())
        app.screen.query_one(Input).value = "7"
        await pilot.press("enter")
        await until(lambda: rig.eng.caches["llm"].max_size == 7)
        await until(lambda: cell(app, "cache-table", "llm", "size").endswith("/7"))


# ---- pin and remap -----------------------------------------------------------------------
async def test_pin_sends_following_traffic_to_the_tier(rig: Rig, tmp_path: Path) -> None:
    router = rig.eng.routers["tiers"]
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "3", "route-table", 3)
        await pilot.press("r")
        await until(lambda: isinstance(app.screen, PickModal))
        await pilot.click("#cancel")  # a mouse user's way out, beside Escape: nothing sent
        await until(lambda: not app.screen.is_modal)
        await pilot.press("r")
        await until(lambda: isinstance(app.screen, PickModal))
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        # Move with the arrow keys, the way an operator does.
        for _ in range(ids.index("quality") - (options.highlighted or 0)):
            await pilot.press("down")
        await until(lambda: options.highlighted == ids.index("quality"))
        # The ends stop the cursor: no wrap from the last route to "auto" or back.
        await pilot.press("end", "down")
        assert options.highlighted == len(ids) - 1
        await pilot.press("home", "up")
        assert options.highlighted == 0
        for _ in range(ids.index("quality")):
            await pilot.press("down")
        await until(lambda: options.highlighted == ids.index("quality"))
        await pilot.press("enter")
        await until(lambda: router.pinned == "quality")
        before = {r: s["count"] for r, s in router.stats()["routes"].items()}
        await rig.chat(15)  # short prompts: the selector would pick "fast"
        after = {r: s["count"] for r, s in router.stats()["routes"].items()}
        assert after["quality"] - before["quality"] == 15
        assert after["fast"] == before["fast"] and after["balanced"] == before["balanced"]
        await until(lambda: "pinned" in cell(app, "route-table", "tiers\x1fquality", "mode"))
        await until(lambda: any("pinned to 'quality'" in n for n in notes(app)))
        assert sum("Router 'tiers'" in n for n in notes(app)) == 1  # the cancel sent nothing
        # back to auto with one key
        await pilot.press("a")
        await until(lambda: router.pinned is None)
        await rig.chat(5)
        assert router.stats()["routes"]["fast"]["count"] == after["fast"] + 5
        await until(lambda: "pinned" not in cell(app, "route-table", "tiers\x1fquality", "mode"))


async def test_remap_route_to_provider(rig: Rig, tmp_path: Path) -> None:
    router = rig.eng.routers["tiers"]
    rig.eng.providers["sim-gamma"].start_cooldown(600)  # drained: marked in the list
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "3", "route-table", 3, "tiers\x1ffast")
        await until(lambda: app.state.group("providers")["sim-gamma"]["state"] == "cooling down")
        await pilot.press("R")
        await until(lambda: isinstance(app.screen, PickModal))
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        labels = {i: str(options.get_option_at_index(n).prompt) for n, i in enumerate(ids)}
        assert labels["sim-gamma"].endswith("[cooling down]")
        assert not labels["sim-max"].endswith("[cooling down]")
        options.highlighted = ids.index("sim-max")
        await pilot.press("enter")

        def first_provider() -> str:
            providers = router.providers_of("fast")
            assert providers is not None
            return providers[0]

        await until(lambda: first_provider() == "sim-max")
        await until(
            lambda: cell(app, "route-table", "tiers\x1ffast", "providers").startswith("sim-max"),
        )
        # Re-mapping to the provider already first sends nothing (and audits nothing).
        writes = rig.eng.fleet.audit.total
        await pilot.press("R")
        await until(lambda: isinstance(app.screen, PickModal))
        await pilot.press("enter")  # the current one is highlighted
        await until(lambda: any("already calls 'sim-max' first" in n for n in notes(app)))
        assert rig.eng.fleet.audit.total == writes


# ---- memory ------------------------------------------------------------------------------
async def test_memory_search_and_clear(rig: Rig, tmp_path: Path) -> None:
    mem = rig.eng.memories["conversations"]
    await mem.add("k1", {"prompt": "retries with backoff"})
    await mem.add("k2", {"prompt": "vector search"})
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "5", "memory-table", 1)
        await pilot.press("slash")
        assert app.focused is app.query_one("#memory-search", Input)
        await pilot.press(*"backoff", "enter")
        found = app.query_one("#memory-found")
        await until(lambda: "k1" in str(found.render()))
        assert "1 result in" in str(found.render())
        # The box keeps the focus: the next query is typed there, its q and c are letters,
        # and it replaces the last one (selected); an arrow key keeps it to refine.
        box = app.query_one("#memory-search", Input)
        assert app.focused is box
        await pilot.press(*"quick clear")
        assert box.value == "quick clear" and not isinstance(app.screen, ConfirmModal)
        await pilot.press("enter", "end", *" more")
        assert box.value == "quick clear more"
        box.value = "***"
        await pilot.press("enter")
        await until(lambda: any("has no keywords" in n for n in notes(app)))
        for i in range(25):  # more matches than are shown: the count says so
            await mem.add(f"many{i}", {"prompt": f"backoff {i}"})
        box.value = ""
        await pilot.press(*"backoff", "enter")
        await until(lambda: "more match" in str(found.render()))
        assert "the best 20 results (more match)" in str(found.render())
        assert str(found.render()).count("• ") == 20
        await pilot.press("escape")
        app.query_one("#memory-table").focus()
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(lambda: mem.size == 0)
        await until(lambda: cell(app, "memory-table", "conversations", "size").startswith("0/"))


# ---- disconnect, retry, resync -------------------------------------------------------------
async def test_engine_restart_disconnected_then_data_flows_again(
    sock_path: Path, tmp_path: Path
) -> None:
    rig = await Rig(sock_path).start()
    await rig.chat(5)
    app = make_app(sock_path, tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await attached(pilot)
            app.feed.live.backoff_max = 0.3  # type: ignore[union-attr]  # attached, so live is set
            await show_table(pilot, "2", "cache-table", 2)
            await rig.stop()
            await until(lambda: "DISCONNECTED" in header_text(app))
            assert "retrying" in header_text(app)
            assert app.query_one(StatusHeader).has_class("-down")
            # the last data stays on screen
            assert app.query_one("#cache-table", LiveTable).row_count == 2
            assert app.state.group("caches")
            # actions while disconnected say so; their keys show disabled in the footer
            app.operator.pin("tiers", "fast")
            await until(lambda: any("not connected" in n for n in notes(app)))

            def flush_enabled() -> bool:
                return next(b.enabled for b in app.screen.active_bindings.values()
                            if b.binding.action == "app.flush")  # fmt: skip

            await until(lambda: not flush_enabled())
            assert "flush" in footer_actions(app)  # still listed, dimmed
            before = sum("not connected" in n for n in notes(app))
            app.query_one("#cache-table", LiveTable).focus()
            await pilot.press("f")  # the press still says why nothing happens
            await until(lambda: sum("not connected" in n for n in notes(app)) > before)
            rig = await Rig(sock_path).start()
            await until(lambda: app.state.connected, within=8)
            await until(flush_enabled)
            seen = app.state.events_total
            await rig.chat(10)
            await until(lambda: app.state.events_total > seen)
            await until(lambda: "DISCONNECTED" not in header_text(app))
            assert app.state.resyncs >= 1
            # the fresh engine's counters replaced the old ones
            hits = app.state.group("caches")["llm"]["stats"]["misses"]
            assert hits == rig.eng.caches["llm"].stats()["misses"] or hits <= 15
    finally:
        await rig.stop()


# ---- read-only ---------------------------------------------------------------------------
async def test_read_only_flag_refuses_actions(rig: Rig, tmp_path: Path) -> None:
    size = rig.eng.caches["llm"].stats()["size"]
    app = make_app(rig.sock, tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await until(lambda: "READ-ONLY" in header_text(app))
        await show_table(pilot, "2", "cache-table", 2)
        for key in ("f", "t", "m", "F"):
            await pilot.press(key)
            await pilot.pause()
            assert not app.screen.is_modal, key
        assert any("Read-only" in n for n in notes(app))
        assert app.check_action("flush", ()) is None  # shown disabled in the footer
        assert app.check_action("pause", ()) is True
        buttons = app.query("#view-caches Button.mutating")
        assert buttons and all(b.disabled for b in buttons)
        # the command palette's callbacks refuse as well
        app.operator.flush(Selection("llm"))
        app.operator.pin("tiers", "fast")
        await pilot.pause()
        assert not app.screen.is_modal
        assert rig.eng.caches["llm"].stats()["size"] == size
        assert rig.eng.routers["tiers"].pinned is None
        # reading is still allowed
        await pilot.press("?")
        await until(lambda: isinstance(app.screen, HelpModal))
        assert "unavailable: read-only" in str(app.screen.query_one("Static").render())


async def test_engine_side_read_only_disables_actions(sock_path: Path, tmp_path: Path) -> None:
    rig = await Rig(sock_path, read_only=True).start()
    try:
        app = make_app(sock_path, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await attached(pilot)
            assert app.state.read_only and not app.state.read_only_flag
            await pilot.press("f")
            await pilot.pause()
            assert not app.screen.is_modal
            await until(lambda: any("engine is read-only" in n for n in notes(app)))
    finally:
        await rig.stop()


# ---- monitor basics ------------------------------------------------------------------------
async def test_pause_refresh_help_and_export(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(rig.sock, tmp_path, refresh=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.press("space")
        assert app.paused
        await until(lambda: "PAUSED" in header_text(app))
        frozen = header_text(app)
        assert "resume" in footer_actions(app) and "pause" not in footer_actions(app)
        painted = app.repaints
        version = app.state.version
        await rig.chat(30)
        await until(lambda: app.state.version > version)
        await pilot.pause(0.3)
        assert app.repaints == painted  # data arrives, the display stays frozen
        assert header_text(app) == frozen  # the header's figures too
        # A view opened while paused shows the data of now, and so does the header: the
        # screen never mixes two moments (Caches kept what it had when last shown).
        size = rig.eng.caches["llm"].stats()["size"]
        await until(lambda: app.state.group("caches")["llm"]["stats"]["size"] == size)
        await pilot.press("2")
        await until(lambda: cell(app, "cache-table", "llm", "size").startswith(f"{size}/"))
        assert "PAUSED · data of" in header_text(app)
        await pilot.press("6")  # the Events view's hint says how to resume
        count = app.query_one("#event-count", Label)
        await until(lambda: "paused: p resumes" in str(count.render()))
        await pilot.press("1")
        await pilot.press("p")
        assert not app.paused
        assert "p pauses" in str(count.render())
        assert "pause" in footer_actions(app) and "resume" not in footer_actions(app)
        await until(lambda: app.repaints > painted)
        await pilot.press("plus")
        assert app.refresh_rate == 0.25
        await pilot.press("minus", "minus")
        assert app.refresh_rate == 1.0
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpModal))
        help_text = str(app.screen.query_one("Static").render())
        for words in ("Flush the selected cache", "Pause / resume", "Export", "Pin"):
            assert words in help_text
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, HelpModal))
        await pilot.press("e")
        await until(lambda: any("Snapshot exported" in n for n in notes(app)))
        files = exported(tmp_path)
        assert len(files) == 1
        data = json.loads(files[0].read_text())
        assert set(data["snapshot"]["caches"]) == {"llm", "fanout-cache"}
        said = "\n".join(notes(app))
        assert f"{files[0].name}\nin {files[0].parent}/" in said  # the name whole, on its line


async def test_events_view_filters(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.press("6", "slash")
        await pilot.press(*"cache.flush")
        await event_filter_applied(app, "cache.flush")
        tail = app.query_one("#event-log", EventTail)
        await until(lambda: not tail.rows)  # nothing flushed yet: the log says so, not blank
        first = "".join(seg.text for seg in tail.render_line(0))
        assert "no event matches 'cache.flush' yet" in first, first
        await rig.eng.caches["fanout-cache"].flush()
        await rig.chat(10)
        await until(lambda: any(ev[2] == "cache.flush" for ev in tail.rows))
        assert all(ev[2] == "cache.flush" for ev in tail.rows)
        line = "".join(seg.text for seg in tail.render_line(tail.size.height - 1))
        assert "cache.flush" in line or "cache.flush" in "".join(
            seg.text for y in range(tail.size.height) for seg in tail.render_line(y)
        )
        # clearing the filter shows every kind again
        app.query_one("#event-filter", Input).value = ""
        await until(lambda: any(ev[2] != "cache.flush" for ev in tail.rows))


async def test_command_palette_runs_actions(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await palette(pilot, "flush cache fanout")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        assert "fanout-cache" in modal_title(app)
        await pilot.press("y")
        await until(lambda: rig.eng.caches["fanout-cache"].stats()["size"] == 0)
        await palette(pilot, "theme: light")
        await until(lambda: app.theme == "light")


async def test_engine_errors_are_shown(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        app.operator.pin("tiers", "no-such-route")
        await until(lambda: any("Engine refused router.pin" in n for n in notes(app)))
        assert any("no route" in n or "no-such-route" in n for n in notes(app))


# ---- themes --------------------------------------------------------------------------------
async def test_bad_theme_file_falls_back_to_default(rig: Rig, tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "mine.toml").write_text('name = "mine"\n[colors]\nprimary = "bogus"\n')
    (themes / "ok.toml").write_text('name = "ok"\ndark = false\n[colors]\nprimary = "#336699"\n')
    app = make_app(rig.sock, tmp_path, theme="mine")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "dark"
        text = "\n".join(notes(app))
        assert "mine.toml" in text and "colors.primary" in text and "'bogus'" in text
        assert "No theme named 'mine'" in text
        assert "ok" in app.available_themes
        app.theme = "ok"
        await pilot.pause()
        assert app.current_theme.primary == "#336699"


async def test_theme_flag_selects_a_builtin(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path, theme="high-contrast")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "high-contrast"
        assert not notes(app)


# ---- small terminals ------------------------------------------------------------------------
async def test_every_view_renders_at_80x24(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await attached(pilot)
        for key in "123456":
            await pilot.press(key)
            await pilot.pause(0.15)
            svg = app.export_screenshot()
            assert "Overview" in svg and "Keys" in svg  # tabs and footer still visible
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.15)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.15)


# ---- mouse and sorting -------------------------------------------------------------------
async def test_mouse_buttons_and_sortable_headers(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await pilot.click("#tabs Tab#--content-tab-caches")
        await until(lambda: app.query_one("#tabs", TabbedContent).active == "caches")
        table = app.query_one("#cache-table", LiveTable)
        await until(lambda: table.row_count == 2)
        assert table.sort_column == "name"
        order = [table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value for i in range(2)]
        assert order == ["fanout-cache", "llm"]
        table.focus()
        await pilot.press("S")  # reverse
        order = [table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value for i in range(2)]
        assert order == ["llm", "fanout-cache"] and table.sort_reverse
        await pilot.press("s")  # next column: layers, text, so A to Z first
        assert table.sort_column == "layers" and not table.sort_reverse
        await pilot.press("s")  # then size, a number: biggest first
        assert table.sort_column == "size" and table.sort_reverse
        table.set_sort("size", reverse=True)  # what a header click does
        sizes = [rig.eng.caches[k].stats()["size"] for k in ("llm", "fanout-cache")]
        order = [table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value for i in range(2)]
        assert order[0] == ("llm" if sizes[0] >= sizes[1] else "fanout-cache")
        assert "▼" in str(table.columns[ColumnKey("size")].label)
        await pilot.click("#btn-flush-all")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        assert "every cache" in modal_title(app).lower()
        await pilot.click("#no")
        await until(lambda: not isinstance(app.screen, ConfirmModal))
        await pilot.click("#btn-set-ttl")
        await until(lambda: isinstance(app.screen, NumberModal))
        await pilot.press("escape")
        await until(lambda: not app.screen.is_modal)
        # the filter box narrows the table without rebuilding the kept rows
        await pilot.click("#cache-filter")
        await pilot.press(*"fan")
        await until(lambda: table.row_count == 1)
        assert table.selected_key == "fanout-cache"
        detail = app.query_one(CacheDetail)
        await until(lambda: "fanout-cache" in str(detail.border_title))
        # a filter that hides every row: the detail box says so, it shows no cache
        await pilot.press(*"zzz")
        await until(lambda: table.row_count == 0)
        await until(lambda: detail.hidden_by == "fanzzz")
        assert "no caches match the filter 'fanzzz'" in str(detail.render())
        assert "fanout" not in str(detail.border_title)
        for _ in range(3):
            await pilot.press("backspace")
        await until(lambda: table.row_count == 1 and not detail.hidden_by)
        await until(lambda: "fanout-cache" in str(detail.border_title))


# ---- launch: attach to the default socket, else the embedded demo --------------------------
async def test_no_engine_on_default_socket_starts_the_embedded_demo(
    sock_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDECK_SOCKET", str(sock_path))  # the default path; nothing there
    app = FlowdeckApp(
        refresh=0.2,
        user_theme_dir=tmp_path / "themes",
        embed_options={"latency_scale": 0.02, "concurrency": 4},
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.state.connected and app.state.events_total > 0, 8)
        assert app.state.embedded and app.feed.embedded is not None
        private = Path(app.state.socket)
        assert private != sock_path and exists(private)
        await until(lambda: "embedded demo engine" in header_text(app))
        assert any("Nothing listens on" in n for n in notes(app))
        await show_table(pilot, "2", "cache-table", 2)
    assert not exists(private)  # the embedded engine stopped and cleaned up


async def test_an_engine_on_the_default_socket_is_attached(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDECK_SOCKET", str(rig.sock))
    app = FlowdeckApp(refresh=0.2, user_theme_dir=tmp_path / "themes")
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        assert not app.state.embedded and app.feed.embedded is None
        assert app.state.socket == str(rig.sock)
        assert app.state.engine["pid"] == os.getpid()
