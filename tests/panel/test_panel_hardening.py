"""Regression tests of issue 12's panel items that need the app (Pilot, real engine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input

from tests.support.panel import SIZE, Rig, attached, header_text, make_app, notes, show_table
from tests.support.waiting import until


async def test_unpinning_an_unpinned_router_says_it_is_already_automatic(
    rig: Rig, tmp_path: Path
) -> None:
    audit_before = len(rig.eng.fleet.audit.recent())
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "3", "route-table", 3)
        await pilot.press("a")
        await until(lambda: any("already automatic" in n for n in notes(app)))
        await pilot.pause()
        assert not any("back to auto" in n or "router.pin ok" in n for n in notes(app))
        assert rig.eng.routers["tiers"].pinned is None
        assert len(rig.eng.fleet.audit.recent()) == audit_before  # no write was sent


async def test_equal_toasts_coalesce_and_at_most_four_show(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path, refresh=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        for _ in range(5):
            await pilot.press("plus")  # already at the fastest refresh
        await until(lambda: any("Refresh every 0.1 s" in n for n in notes(app)))
        await pilot.pause()
        assert sum("Refresh every 0.1 s" in n for n in notes(app)) == 1
        for i in range(9):
            app.notify(f"distinct {i}")
        await until(lambda: any("distinct 8" in n for n in notes(app)))
        await pilot.pause()
        assert len(notes(app)) <= 4 and any("distinct 8" in n for n in notes(app))


async def test_broken_theme_files_make_one_toast(rig: Rig, tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    for i in range(4):
        (themes / f"bad{i}.toml").write_text("name = [\n")
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: any("skipped" in n for n in notes(app)))
        await pilot.pause()
        skipped = [n for n in notes(app) if "skipped" in n]
        assert len(skipped) == 1
        assert all(f"bad{i}.toml" in skipped[0] for i in range(4))


async def test_the_filter_applies_after_a_quiet_time_or_at_once_on_enter(
    rig: Rig, tmp_path: Path
) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        table = await show_table(pilot, "2", "cache-table", 2)
        view = app.views["caches"]
        view.filter_quiet = 3600.0  # nothing applies by itself while typing
        await pilot.press("slash", *"fanout")
        await pilot.pause()
        assert app.query_one("#cache-filter", Input).value == "fanout"
        assert table.filter_text == "" and table.row_count == 2  # no re-sync per key
        await pilot.press("enter")
        await until(lambda: table.row_count == 1)  # Enter: at once
        assert table.filter_text == "fanout"
        assert app.focused is table  # and the keys are the view's again
        view.filter_quiet = 0.05
        await pilot.press("slash", *["backspace"] * 6)
        await until(lambda: table.row_count == 2)  # a quiet time: applies by itself


async def test_keys_right_after_escape_do_not_go_into_the_filter(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        table = await show_table(pilot, "2", "cache-table", 2)
        box = app.query_one("#cache-filter", Input)
        await pilot.press("slash", "l")
        await until(lambda: app.focused is box and box.value == "l")
        sorted_by = table.sort_column
        # A burst, the way a terminal delivers keys typed quickly: both reach the app
        # before the box has handled Escape (Pilot would wait between the two).
        app.post_message(events.Key("escape", None))
        app.post_message(events.Key("s", "s"))
        await until(lambda: app.focused is table)
        await until(lambda: table.sort_column != sorted_by)  # s sorted the table
        assert box.value == "l"
        assert table.filter_text == "l"  # leaving the box applied the filter at once


async def test_wide_and_long_names_keep_tables_and_boxes_aligned(rig: Rig, tmp_path: Path) -> None:
    from rich.cells import cell_len

    from flowdeck.engine import Cache, Step
    from flowdeck.panel.widgets.cache_rates import CacheRates

    wide, long = "漢字キャッシュ🚀", "a-cache-with-a-very-long-name-" * 3
    for name in (wide, long):
        rig.eng.add(Cache(Step(lambda d: d), name=name, ttl=60, max_size=10))
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        table = await show_table(pilot, "2", "cache-table", 4)
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(1, 1 + table.row_count)]
        # the Layers column ("L1") starts at the same cell on every row
        starts = {cell_len(line[: line.index(" L1")]) for line in lines}
        assert len(starts) == 1, lines
        assert all(cell_len(line) <= SIZE[0] for line in lines)
        assert any(wide in line for line in lines)
        assert not any(long in line for line in lines) and any("…" in line for line in lines)
        box = app.query_one(CacheRates)
        rows = [str(c) for c in box.render_state(80)[1:]]
        assert len(rows) == 4 and len({cell_len(r) for r in rows}) == 1, rows  # aligned


async def test_flush_after_the_engine_died_says_not_connected_before_any_dialog(
    sock_path: Path, tmp_path: Path
) -> None:
    from flowdeck.panel.modals.confirm import ConfirmModal

    rig = await Rig(sock_path).start()
    app = make_app(sock_path, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "2", "cache-table", 2)
        await rig.stop()
        await until(lambda: not app.state.connected)
        await pilot.press("f")
        await until(lambda: any("not connected" in n for n in notes(app)))
        assert not isinstance(app.screen, ConfirmModal)  # no stale counts to confirm


async def test_view_hints_wrap_beside_the_buttons_or_step_aside_never_cut(
    rig: Rig, tmp_path: Path
) -> None:
    from textual.widgets import Label

    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await attached(pilot)
        await pilot.press("8")
        hint = app.views["providers"].query_one(".actions .hint", Label)
        await until(lambda: hint.display and hint.size.height >= 1)  # beside two buttons
        assert hint.size.height <= 3
        await show_table(pilot, "3", "route-table", 3)
        hint = app.views["routers"].query_one(".actions .hint", Label)
        await until(lambda: not hint.display)  # five buttons leave no room: gone, under ?
        await show_table(pilot, "2", "cache-table", 2)
        hint = app.views["caches"].query_one(".actions .hint", Label)
        await until(lambda: not hint.display)  # one word a line beside four buttons: gone
        await pilot.resize_terminal(120, 40)
        await until(lambda: hint.display and hint.size.height == 1)


async def test_the_header_names_the_socket_of_the_engine_found_not_the_default_path(
    sock_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowdeck.panel.app import FlowdeckApp

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    (sock_dir / "flowdeck").mkdir(mode=0o700)
    rig = await Rig(sock_dir / "flowdeck" / f"demo.{os.getpid()}.sock").start()
    app = FlowdeckApp(user_theme_dir=tmp_path / "themes", refresh=0.2)  # no socket named
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await attached(pilot)
            assert app.state.socket == str(rig.sock)
            assert str(rig.sock) in header_text(app)
    finally:
        await rig.stop()
