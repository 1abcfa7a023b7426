"""The Fleet view under Pilot against three real engines on real sockets (private runtime dir)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, TabbedContent

from flowdeck.engine import Engine
from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.fleet.screen import FleetScreen
from tests.support.control import build_flows, control_settings
from tests.support.panel import footer_actions, notes
from tests.support.waiting import until


@pytest.fixture
async def three(sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Engine]]:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    runtime = sock_dir / "flowdeck"
    async with contextlib.AsyncExitStack() as stack:
        engines = []
        for i in range(3):
            eng = Engine(control_settings(runtime, socket=None, name="web", read_only=i == 2))
            flows = build_flows(eng)
            await stack.enter_async_context(eng)
            for n in range(i + 2):  # different counts per engine: sums are telling
                await eng.run(flows["cache"], {"prompt": f"p{n % 2}"})
            engines.append(eng)
        yield engines


def _fleet(app: FlowdeckApp) -> FleetScreen:
    screen = app.screen
    assert isinstance(screen, FleetScreen), type(screen).__name__
    return screen


async def test_fleet_view_lists_sums_drills_acts_and_follows(
    three: list[Engine], tmp_path: Path
) -> None:
    app = FlowdeckApp(refresh=0.2, user_theme_dir=tmp_path / "themes")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        fleet = _fleet(app)
        await until(
            lambda: len(fleet.feed.rows()) == 3 and all(m.stats for m in fleet.feed.ordered()), 30
        )
        assert {r["id"] for r in fleet.feed.rows()} == {e.id for e in three}
        assert fleet.header_text().startswith(" fleet · 3 engines")

        want = {
            k: sum(e.caches["llm"].stats()[k] for e in three) for k in ("hits", "misses", "size")
        }
        await until(lambda: {k: fleet.feed.totals()["caches"]["llm"][k] for k in want} == want, 30)
        routes = fleet.feed.totals()["routers"]["tiers"]["routes"]
        assert sum(routes.values()) == sum(e.routers["tiers"].stats()["total"] for e in three)

        # f on the cache total: confirmation names 3 engines; one engine refuses (read_only)
        totals = fleet.query_one("#fleet-totals", DataTable)
        app.set_focus(totals)
        await until(lambda: "cache:llm" in totals.rows, 30)
        totals.move_cursor(row=totals.get_row_index("cache:llm"))  # the operator highlights it
        await pilot.press("f")
        await until(lambda: "on 3 engines" in str(getattr(app.screen, "help_text", "")), 30)
        await pilot.press("y")
        await until(lambda: any("applied on 2 of 3; pid" in n for n in notes(app)), 30)
        assert any("read_only" in n for n in notes(app))
        assert three[0].caches["llm"].stats()["size"] == 0
        assert three[2].caches["llm"].stats()["size"] > 0  # the read-only engine kept it

        # Enter drills into one engine: every view, its socket, "k of 3" in the header
        app.set_focus(fleet.query_one("#fleet-engines"))
        await pilot.press("enter")
        await until(lambda: not isinstance(app.screen, FleetScreen), 30)
        await until(lambda: app.state.connected, 30)
        ids = {e.id: e for e in three}
        assert app.state.engine.get("id") in ids
        assert app.fleet_position is not None and app.fleet_position[1] == 3

        # Back to the fleet while paused: its rows still show (of that moment), with the
        # engine we came from highlighted, and the footer offers Resume.
        shown = app.state.engine.get("id")
        await pilot.press("space", "0")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        engines = _fleet(app).query_one("#fleet-engines", DataTable)
        await until(lambda: engines.row_count == 3, 30)
        await until(lambda: _fleet(app).query_one("#fleet-totals", DataTable).row_count > 0, 30)
        cursor = engines.coordinate_to_cell_key(engines.cursor_coordinate).row_key.value
        assert cursor == shown
        await until(lambda: "PAUSED · data of" in _fleet(app).header_text(), 30)
        assert "resume" in footer_actions(app) and "pause" not in footer_actions(app)
        await pilot.press("space")
        assert not app.paused

        # A digit opens the highlighted engine on that view (not a silent tab switch
        # behind the Fleet view that took its focus away).
        app.set_focus(_fleet(app).query_one("#fleet-engines"))
        await pilot.press("2")
        await until(lambda: not isinstance(app.screen, FleetScreen), 30)
        await until(lambda: app.query_one(TabbedContent).active == "caches", 30)
        await until(lambda: app.state.connected, 30)
        await pilot.press("0")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)

        # an engine that stops leaves the fleet without a restart (its row stays, gone)
        await three[1].close()
        await until(lambda: len(_fleet(app).feed.ordered()) == 2, 30)
        assert [r["level"] for r in _fleet(app).feed.rows()][-1] == "gone"
        await pilot.press("q")


async def test_keys_over_the_fleet_view_act_there_and_not_on_the_hidden_engine_views(
    three: list[Engine], tmp_path: Path
) -> None:
    """The engine views stay under the Fleet view once an engine was opened: their keys
    (filter, sort, search, export, the writes) must not act on what cannot be seen."""
    from textual.command import CommandPalette
    from textual.widgets import Input, OptionList

    from flowdeck.panel.modals.help import HelpModal

    app = FlowdeckApp(refresh=0.2, read_only=True, user_theme_dir=tmp_path / "themes")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        await until(lambda: len(_fleet(app).feed.rows()) == 3, 30)
        assert " · READ-ONLY" in _fleet(app).header_text()  # said before a key is pressed
        app.set_focus(_fleet(app).query_one("#fleet-engines"))
        engines = _fleet(app).query_one("#fleet-engines", DataTable)
        await until(lambda: engines.row_count == 3, 30)
        await pilot.press("8")  # open one engine on Providers, then back to the Fleet view
        await until(lambda: not isinstance(app.screen, FleetScreen) and app.state.connected, 30)
        await pilot.press("0")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)

        # "/" then Escape used to leave the hidden filter box focused: "x" went into it
        await pilot.press("slash", "escape", "x")
        await until(lambda: not isinstance(app.screen, FleetScreen), 30)
        box = app.query_one("#provider-filter", Input)
        assert box.value == "" and app.focused is not box
        await pilot.press("0")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)

        # read-only: a write key says so once, in the Fleet view's words
        totals = _fleet(app).query_one("#fleet-totals", DataTable)
        app.set_focus(totals)
        await until(lambda: "cache:llm" in totals.rows, 30)
        totals.move_cursor(row=totals.get_row_index("cache:llm"))
        before = len(notes(app))
        await pilot.press("t")
        await until(lambda: len(notes(app)) > before, 30)
        await pilot.pause()
        assert len(notes(app)) == before + 1, notes(app)[before:]

        # ? lists the Fleet view's keys; the palette offers its actions, not the engine's
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpModal), 30)
        help_screen = app.screen
        assert isinstance(help_screen, HelpModal) and help_screen.fleet
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        await pilot.press("ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette), 30)
        app.screen.query_one(Input).value = "flush"
        options = app.screen.query_one(OptionList)

        def prompts() -> list[str]:
            return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

        await until(lambda: any("Flush" in p for p in prompts()), 30)
        assert any("highlighted cache on every engine" in p for p in prompts()), prompts()
        assert not any("Flush cache llm" in p or "Flush every" in p for p in prompts()), prompts()
        await pilot.press("escape")
