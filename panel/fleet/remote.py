"""RemoteEngineScreen: one engine of another host, as its heartbeats describe it.

Its socket is not reachable from here, so there are no live events and no per-engine
actions: the screen says so, shows identity, the age of the data and a table of its
caches, routers and memories (from the heartbeat's stats), repainted every second.
Escape or ``0`` goes back to the Fleet view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from flowdeck.panel import fmt
from flowdeck.panel.keys import KEYS

if TYPE_CHECKING:
    from flowdeck.panel.fleet.redis_feed import RedisFleetFeed


def _pct(v: Any) -> str:
    return "-" if not isinstance(v, int | float) else f"{v * 100:.0f}%"


def primitive_rows(stats: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    """(key, cells) per cache, memory and router of a heartbeat's stats."""
    rows: list[tuple[str, tuple[str, ...]]] = []
    for name, c in sorted((stats.get("caches") or {}).items()):
        c = c if isinstance(c, dict) else {}
        h, m = c.get("hits", 0), c.get("misses", 0)
        rate = h / (h + m) if isinstance(h, int) and isinstance(m, int) and h + m else None
        cells = ("cache", name, fmt.num(h), fmt.num(m), _pct(rate), fmt.num(c.get("size", 0)))
        rows.append((f"cache:{name}", cells))
    for name, mem in sorted((stats.get("memories") or {}).items()):
        mem = mem if isinstance(mem, dict) else {}
        rows.append((f"memory:{name}", ("memory", name, "", "", "", fmt.num(mem.get("size", 0)))))
    for name, r in sorted((stats.get("routers") or {}).items()):
        routes = (r if isinstance(r, dict) else {}).get("routes") or {}
        split = " ".join(
            f"{k} {v.get('share', 0) * 100:.0f}%"
            for k, v in sorted(routes.items())
            if isinstance(v, dict)
        )
        rows.append((f"router:{name}", ("router", name, "", "", "", split)))
    return rows


class RemoteEngineScreen(Screen[None]):
    """The heartbeat view of one fleet engine (dismissed by Escape / 0)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,0", "back", "Back to the fleet", show=True),
        # The operator's keys would act on the engine this panel is attached to, not on
        # the one shown: here they say where to act instead (and leave the footer).
        *(Binding(k.keys, "elsewhere", show=False) for k in KEYS if k.mutating),
    ]

    def __init__(self, feed: RedisFleetFeed, engine_id: str) -> None:
        super().__init__(id="fleet-remote")
        self.feed = feed
        self.engine_id = engine_id

    def compose(self) -> ComposeResult:
        yield Static("", id="remote-header")
        yield Static("", id="remote-note")
        yield DataTable(id="remote-primitives", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("kind", "name", "hits", "misses", "hit rate", "size / split"):
            table.add_column(col, key=col)
        self.set_interval(1.0, self.repaint, name="remote-repaint")
        self.repaint()

    def repaint(self) -> None:
        m = self.feed.members.get(self.engine_id)
        header = self.query_one("#remote-header", Static)
        note = self.query_one("#remote-note", Static)
        if m is None:
            header.update(" engine gone from the fleet")
            note.update(" Its heartbeat expired. Press 0 to go back.")
            return
        e, row = m.engine, m.row(self.feed.clock())
        header.update(f" {e.name} · {e.host} pid {e.pid} · remote (heartbeats)")
        ro = " · read-only" if e.read_only else ""
        note.update(
            f" Shown from its heartbeat in Redis, every {e.interval:g} s: no live events, and "
            f"actions go to the whole fleet (0). Up {fmt.uptime(row['uptime'])}, "
            f"{fmt.rate(row['rate'])} req/s, data {row['age']:.1f}s old ({row['level']}), "
            f"id {e.id[:12]}, version {e.version}{ro}."
        )
        table = self.query_one(DataTable)
        rows = primitive_rows(m.stats)
        if [str(k.value) for k in table.rows] != [k for k, _ in rows]:
            table.clear()
            for key, cells in rows:
                table.add_row(*cells, key=key)
            return
        for key, cells in rows:
            for col, cell in zip(list(table.columns), cells, strict=True):
                if table.get_cell(key, col) != cell:
                    table.update_cell(key, col, cell)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_elsewhere(self) -> None:
        self.app.notify(
            "This engine is shown from its heartbeat: act on every engine from the Fleet"
            " view (0), or on this one from its own host.",
            title="Not from here",
            severity="warning",
        )
