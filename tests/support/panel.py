"""The panel under test: a real engine with the demo flows, the app, and screen probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Label, OptionList

from flowdeck.engine import Context, Engine
from flowdeck.engine.demo import DemoFlows, build_flows, demo_settings
from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.modals.base import TitledModal
from flowdeck.panel.widgets.header import StatusHeader
from flowdeck.panel.widgets.live_table import LiveTable
from tests.support.waiting import until

SIZE = (120, 40)


class Rig:
    """A running engine with the demo flows, and a way to send it traffic."""

    def __init__(self, sock: Path, **settings: Any) -> None:
        self.sock = sock
        self.settings = settings
        self.eng: Engine
        self.flows: DemoFlows
        self._n = 0

    async def start(self) -> Rig:
        s = demo_settings(0.0, socket=self.sock, stats_interval=0.2, **self.settings)
        self.eng = Engine(s)
        await self.eng.start()
        self.flows = build_flows(self.eng)
        return self

    async def stop(self) -> None:
        await self.eng.close()

    async def chat(self, count: int, *, fresh: bool = True, long: bool = False) -> None:
        """``count`` chat requests; fresh prompts miss the cache and reach the router."""
        for _ in range(count):
            self._n += 1
            words = "word " * (30 if long else 2)
            prompt = f"{words} q{self._n}" if fresh else "What is caching?"
            await self.eng.run(self.flows.chat, {"prompt": prompt}, Context(self.eng))

    async def fanout(self, count: int) -> None:
        """``count`` runs of the parallel fan-out flow (fresh prompts)."""
        for _ in range(count):
            self._n += 1
            await self.eng.run(self.flows.fanout, {"prompt": f"fan {self._n}"}, Context(self.eng))


def make_app(sock: Path, tmp_path: Path, **kw: Any) -> FlowdeckApp:
    kw.setdefault("refresh", 0.2)
    kw.setdefault("export_dir", tmp_path)
    return FlowdeckApp(socket=sock, embed=False, user_theme_dir=tmp_path / "themes", **kw)


def exists(path: Path) -> bool:
    return path.exists()


def exported(directory: Path) -> list[Path]:
    return sorted(directory.glob("flowdeck-snapshot-*.json"))


def notes(app: FlowdeckApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def modal_title(app: App[Any]) -> str:
    """The title of the dialog on top (a ConfirmModal, NumberModal, PickModal...)."""
    screen = app.screen
    assert isinstance(screen, TitledModal), f"not a titled dialog: {screen!r}"
    return screen.title_text


def footer_actions(app: FlowdeckApp) -> list[str]:
    """The actions the footer shows now, once each, as it does (without ``app.``)."""
    shown = [b.action for _, b, _, _ in app.screen.active_bindings.values() if b.show]
    return list(dict.fromkeys(a.removeprefix("app.") for a in shown))


def header_text(app: FlowdeckApp) -> str:
    header = app.query_one(StatusHeader)
    return str(header.render())


def cell(app: FlowdeckApp, table_id: str, row: str, col: str) -> str:
    table = app.query_one(f"#{table_id}", LiveTable)
    return table.get_cell(row, col).text


async def palette(pilot: Pilot[Any], query: str) -> None:
    """Open the command palette, search for ``query`` and run the best hit."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(lambda: isinstance(app.screen, CommandPalette))
    app.screen.query_one(Input).value = query
    last = query.split()[-1].lower()
    await until(
        lambda: (
            app.screen.query_one(OptionList).option_count > 0
            and last in str(app.screen.query_one(OptionList).get_option_at_index(0).prompt).lower()
        ),
    )
    await pilot.press("enter")


async def attached(pilot: Pilot[Any]) -> FlowdeckApp:
    app: FlowdeckApp = pilot.app  # type: ignore[assignment]  # Pilot is generic over App only
    await until(lambda: app.state.connected and app.state.has_data)
    return app


async def show_table(
    pilot: Pilot[Any], key: str, table_id: str, rows: int, select: str | None = None
) -> LiveTable:
    """Press a view's key, wait until its table shows ``rows`` rows, optionally put the
    cursor on the row ``select``; return the table."""
    app = pilot.app
    await pilot.press(key)
    await until(lambda: app.query_one(f"#{table_id}", LiveTable).row_count == rows)
    table = app.query_one(f"#{table_id}", LiveTable)
    if select is not None:
        table.move_cursor(row=table.get_row_index(select))
    return table


async def event_filter_applied(app: FlowdeckApp, text: str) -> None:
    """Wait until the Events view filters by ``text`` (the box applies it after a short
    debounce; an event sent before that passes through the unfiltered ring)."""
    count = app.query_one("#event-count", Label)
    await until(lambda: f"(filter: {text})" in str(count.render()))
