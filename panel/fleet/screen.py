"""FleetScreen: a row per engine of this host, totals per cache and router name.

Enter drills into the highlighted engine (the app attaches to its socket and shows
every view with its live events); ``0`` on the app comes back. ``f`` flushes the
highlighted cache total on every engine that has it, after a confirmation that says
how many engines it touches, and reports per engine.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from flowdeck.panel import fmt
from flowdeck.panel.fleet.feed import FleetFeed, Member, apply_everywhere
from flowdeck.panel.modals.confirm import ConfirmModal

LEVEL_STYLE = {"ok": "", "late": "dark_orange", "stale": "bold red"}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


class FleetScreen(Screen[str | None]):
    """Dismisses with the socket path of the engine to drill into (None: quit)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "drill", "Open engine", show=True),
        Binding("f", "flush", "Flush cache on all", show=True),
        Binding("q", "quit_panel", "Quit", show=True),
    ]

    def __init__(self, feed: FleetFeed, *, refresh: float = 0.5, read_only: bool = False) -> None:
        super().__init__(id="fleet")
        self.feed = feed
        self.refresh_every = refresh
        self.read_only = read_only
        self.repaints = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="fleet-header")
        yield DataTable(id="fleet-engines", cursor_type="row", zebra_stripes=True)
        yield Static("Totals over engines", id="fleet-totals-title")
        yield DataTable(id="fleet-totals", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        engines = self.query_one("#fleet-engines", DataTable)
        for col in ("name", "host", "pid", "uptime", "req/s", "hit rate", "errors", "redis", "age"):
            engines.add_column(col, key=col)
        totals = self.query_one("#fleet-totals", DataTable)
        for col in ("kind", "name", "engines", "hits", "misses", "hit rate", "size / split"):
            totals.add_column(col, key=col)
        self.set_interval(self.refresh_every, self.repaint, name="fleet-repaint")
        self.repaint()

    # ---- painting --------------------------------------------------------------------
    def header_text(self) -> str:
        n = len(self.feed.members)
        return f" fleet · {n} engine{'s' if n != 1 else ''}" + (
            f"  ·  {self.feed.error}" if self.feed.error else ""
        )

    def repaint(self) -> None:
        self.repaints += 1
        self.query_one("#fleet-header", Static).update(self.header_text())
        rows = self.feed.rows()
        table = self.query_one("#fleet-engines", DataTable)
        keys = [r["id"] for r in rows]
        _sync(table, keys, [self._engine_cells(r) for r in rows])
        totals = self.feed.totals()
        tkeys, tcells = [], []
        for name, t in sorted(totals["caches"].items()):
            tkeys.append(f"cache:{name}")
            tcells.append(("cache", name, str(t["engines"]), str(t["hits"]), str(t["misses"]),
                           _pct(t["hit_rate"]), str(t["size"])))  # fmt: skip
        for name, t in sorted(totals["routers"].items()):
            split = " ".join(f"{k} {v * 100:.0f}%" for k, v in sorted(t["split"].items()))
            tkeys.append(f"router:{name}")
            tcells.append(("router", name, str(t["engines"]), "", "", "", split))
        _sync(self.query_one("#fleet-totals", DataTable), tkeys, tcells)

    @staticmethod
    def _engine_cells(r: dict[str, Any]) -> tuple[Any, ...]:
        style = LEVEL_STYLE[r["level"]]
        age = "-" if r["age"] is None else f"{r['age']:.1f}s"
        redis = "-" if r["redis"] is None else ("up" if r["redis"] else "DOWN")
        return (
            r["name"],
            r["host"],
            str(r["pid"]),
            fmt.uptime(r["uptime"]),
            fmt.rate(r["rate"]),
            _pct(r["hit_rate"]),
            str(r["errors"]),
            redis,
            Text(age, style=style),
        )

    # ---- actions ---------------------------------------------------------------------
    def selected(self) -> Member | None:
        table = self.query_one("#fleet-engines", DataTable)
        ordered = self.feed.ordered()
        if not ordered or table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.feed.members.get(str(key))

    def action_drill(self) -> None:
        m = self.selected()
        if m is not None:
            self.dismiss(str(m.engine.socket))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter (or a click) on an engine row: the table takes Enter before the screen."""
        if event.data_table.id == "fleet-engines":
            event.stop()
            self.action_drill()

    def action_quit_panel(self) -> None:
        self.app.exit()

    def action_flush(self) -> None:
        if self.read_only:
            self.app.notify("read-only: flush is not available", severity="warning")
            return
        totals = self.query_one("#fleet-totals", DataTable)
        if totals.row_count == 0:
            self.app.notify("No engine has a cache", severity="warning")
            return
        key = str(totals.coordinate_to_cell_key(totals.cursor_coordinate).row_key.value)
        kind, _, name = key.partition(":")
        if kind != "cache":
            self.app.notify("Highlight a cache in the totals to flush it", severity="warning")
            return
        members = self.feed.ordered()
        n = sum(1 for m in members if name in (m.stats.get("caches") or {}))

        def done(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._flush(members, name), group="fleet-action")

        self.app.push_screen(
            ConfirmModal(f"Flush {name!r}", f"Flush cache {name!r} on {n} engines?", "Flush"),
            done,
        )

    async def _flush(self, members: list[Member], name: str) -> None:
        text = await apply_everywhere(members, "cache.flush", {"name": name}, "caches", name)
        bad = "; pid" in text or text.startswith("no engine")
        self.app.notify(text, title=f"Flush {name}", severity="warning" if bad else "information")


def _sync(table: DataTable[Any], keys: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Rows in place: add new keys, drop gone ones, update changed cells."""
    have = {str(k.value) for k in table.rows}
    for gone in have - set(keys):
        table.remove_row(gone)
    cols = list(table.columns)
    for key, cells in zip(keys, rows, strict=True):
        if key not in have:
            table.add_row(*cells, key=key)
            continue
        for col, cell in zip(cols, cells, strict=True):
            if table.get_cell(key, col) != cell:
                table.update_cell(key, col, cell)
