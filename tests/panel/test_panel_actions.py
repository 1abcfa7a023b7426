"""The operator's gate and the palette: act only on visible rows, say "not connected"
first, and build the palette from Textual's SystemCommand mechanism and the key table."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.command import CommandPalette

from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.keys import KEYS
from flowdeck.panel.modals.confirm import ConfirmModal
from tests.support.panel import (
    SIZE,
    Rig,
    attached,
    make_app,
    modal_title,
    notes,
    palette,
    show_table,
)
from tests.support.waiting import until


async def test_palette_is_textuals_system_commands_driven_by_the_key_table(
    rig: Rig, tmp_path: Path
) -> None:
    assert FlowdeckApp.COMMANDS == App.COMMANDS  # no provider of our own
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for k in KEYS:
            if k.palette:
                assert k.description in titles
        for wanted in ("Filter", "Sort", "Search", "Flush cache llm", "Theme: light"):
            assert any(t.startswith(wanted) for t in titles), wanted
        await palette(pilot, "sort the table")
        await until(lambda: not isinstance(app.screen, CommandPalette))


async def test_flush_acts_only_on_a_visible_row(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        await show_table(pilot, "2", "cache-table", 2)
        await pilot.press("slash", *"zzz-no-such", "escape")
        await until(lambda: app.operator.target("caches").filter == "zzz-no-such")
        await pilot.press("f")
        await until(lambda: any("filter 'zzz-no-such' hides every row" in n for n in notes(app)))
        assert not isinstance(app.screen, ConfirmModal)
        # with a filter that leaves one row, that row is the target
        await pilot.press("slash", *["backspace"] * 11, *"fanout", "escape")
        await until(lambda: app.operator.target("caches").name == "fanout-cache")
        await pilot.press("f")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        assert "fanout-cache" in modal_title(app)


async def test_actions_say_not_connected_before_anything_else(
    sock_path: Path, tmp_path: Path
) -> None:
    app = make_app(sock_path, tmp_path)  # nothing listens there
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.state.conn == "disconnected")  # the first attempt failed
        await pilot.press("2", "f", "t", "r")
        await until(lambda: sum("not connected" in n for n in notes(app)) == 3)
        assert not any("has no" in n for n in notes(app))
        assert not isinstance(app.screen, ConfirmModal)


async def test_an_action_while_still_connecting_says_so_not_disconnected(
    sock_path: Path, tmp_path: Path
) -> None:
    """Just opened (from the Fleet view, say): the engine has not answered yet, which is
    not the same as gone (QA: '1' then 'm' at once said "Disconnected")."""
    import socket

    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(sock_path))
    silent.listen(8)  # accepts the connection in its backlog, never answers the hello
    try:
        app = make_app(sock_path, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            assert app.state.conn == "connecting"
            await pilot.press("2", "f")
            await until(lambda: any("still connecting" in n for n in notes(app)))
            assert not any("Disconnected" in n for n in notes(app))
    finally:
        silent.close()


async def test_a_key_right_after_a_cursor_move_acts_on_the_new_row(
    rig: Rig, tmp_path: Path
) -> None:
    """down, down, f typed in one burst: f runs before the moves' Selected messages are
    handled, and must still act on the row the cursor is on."""
    app = make_app(rig.sock, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await attached(pilot)
        table = await show_table(pilot, "2", "cache-table", 2)
        await until(lambda: app.operator.target("caches").name == table.selected_key)
        first = table.selected_key
        # what an arrow key does, without yielding to the loop
        table.move_cursor(row=1 - table.cursor_row)
        moved = table.selected_key
        assert moved != first
        await app.run_action("flush")
        await until(lambda: isinstance(app.screen, ConfirmModal))
        assert f"'{moved}'" in modal_title(app), modal_title(app)
        await pilot.press("n")
        await until(lambda: not isinstance(app.screen, ConfirmModal))
