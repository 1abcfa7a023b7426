"""FleetScreen: a row per engine of this host, totals per cache and router name.

Enter drills into the highlighted engine (the app attaches to its socket and shows
every view with its live events); ``0`` on the app comes back. The keys of the
engine views act on the highlighted totals row, on every engine that has it (flush,
TTL, size, pin, auto, re-map, memory clear: ``panel.fleet.actions``), after a
confirmation that says how many engines it touches, and report per engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import Any, ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from flowdeck.engine.control.discovery import runtime_dir
from flowdeck.panel import fmt
from flowdeck.panel.fleet.actions import FleetActions
from flowdeck.panel.fleet.feed import FleetFeed, Member
from flowdeck.panel.fleet.redis_feed import RedisFleetFeed, RemoteMember
from flowdeck.panel.fleet.remote import RemoteEngineScreen
from flowdeck.panel.keys import RESUME, pause_shown
from flowdeck.panel.refresh import bounded, faster, slower
from flowdeck.panel.widgets.column_fit import fit_columns
from flowdeck.panel.widgets.live_table import Cell, Column, LiveTable

LEVEL_STYLE = {"ok": "", "late": "dark_orange", "stale": "bold red", "gone": "dim"}
HINT_ITEMS = (
    ("Enter/1-8 open an engine,", " "), ("0 comes back to this list", " · "),
    ("Tab switches tables", "\n"), ("on the highlighted total:", " "), ("f flush", " · "),
    ("t/m TTL/size", " · "), ("r/a pin/auto", " · "), ("R re-map", " · "),
    ("w weights", " · "), ("o restore", " · "), ("c clear memory", " · "),
    ("u/d end cooldown/drain a provider", ""),
)  # fmt: skip
"""The hint as (item, separator after it): wrapped between items, never inside one;
a separator "\n" ends the line (moving about, then the actions)."""
EMPTY_HINT_ITEMS = (
    ("No engine is running:", " "), ("engines appear here as they start", " "),
    ("(flowdeck serve, or an app with an Engine)", " "), ("and leave when they stop", " · "),
    ("q quits", ""),
)  # fmt: skip
"""The hint with no engine to open or act on."""
TOTAL_KEYS = {
    "cache": "f flush · t TTL · m max size",
    "router": "r pin · a auto · R re-map · w weights · o restore",
    "memory": "c clear",
}
"""What acts on a totals row of each kind (said when Enter is pressed on one)."""
VIEW_PANES = ("overview", "caches", "routers", "timelines", "memory", "events", "audit",
              "providers")  # fmt: skip
"""The engine views by their key (1 to 8): in the Fleet view a digit opens the
highlighted engine on that view."""
SPLIT_SHOWN = 3  # routes named in a router's split at most; the rest are counted
SPLIT = "size / split"
ENGINE_COLUMNS = [
    Column("name", "name"),
    Column("host", "host"),
    Column("pid", "pid", right=True),
    Column("uptime", "uptime", right=True),
    Column("req/s", "req/s", right=True),
    Column("hit rate", "hit rate", right=True),
    Column("errors", "errors", right=True),
    Column("redis", "redis"),
    Column("age", "age"),
]
TOTAL_COLUMNS = [
    Column("kind", "kind"),
    Column("name", "name"),
    Column("engines", "engines", right=True),
    Column("hits", "hits", right=True),
    Column("misses", "misses", right=True),
    Column("hit rate", "hit rate", right=True),
    # Not capped like the name columns: split_text already fits the split to the room
    # the terminal leaves, whole routes at a time ("fast 74% +2 more", never "fast 7…").
    Column(SPLIT, SPLIT, max_width=1 << 12),
]


ACTS = (
    ("f", "flush", "Flush the highlighted cache on every engine"),
    ("t", "set_ttl", "Set the TTL of the highlighted cache on every engine"),
    ("m", "set_size", "Set the max size of the highlighted cache on every engine"),
    ("r", "pin", "Pin the highlighted router on every engine"),
    ("a", "unpin", "Unpin the highlighted router on every engine (auto)"),
    ("R", "remap", "Re-map a route of the highlighted router on every engine"),
    ("w", "set_weights", "Set the route weights of the highlighted router on every engine"),
    ("o", "restore", "Restore a route's configured providers on every engine"),
    ("c", "clear_memory", "Clear the highlighted memory on every engine"),
    ("u", "resume_provider", "End a provider's cooldown on every engine"),
    ("d", "drain_provider", "Drain a provider on every engine"),
    ("v", "overrides", "Fleet-wide overrides in Redis: list them, drop one"),
)
"""The Fleet view's actions on the highlighted totals row: (key, FleetActions method,
what it does), for its bindings and its command palette."""


ENGINE_ALWAYS = ("name", "pid", "req/s")
ENGINE_OPTIONAL = ("hit rate", "redis", "host", "errors", "uptime")
"""Added by priority while the age (which says "gone 35s ago") keeps AGE_ROOM cells: a
narrow terminal loses the least useful columns instead of cutting the age off."""
AGE_ROOM = 14


def engine_columns(
    cells: list[tuple[str | Cell, ...]], width: int, sort: str | None = None
) -> list[Column]:
    """The engine table's columns at ``width`` cells, for rows of ``cells`` (``sort``:
    the column with the sort arrow, if any)."""
    rows = {
        str(i): {
            c.key: (Cell(v) if isinstance(v, str) else v)
            for c, v in zip(ENGINE_COLUMNS, row, strict=True)
        }
        for i, row in enumerate(cells)
    }
    return fit_columns(
        ENGINE_COLUMNS, ENGINE_ALWAYS, ENGINE_OPTIONAL, "age", rows, width, AGE_ROOM,
        sort=sort or "",
    )  # fmt: skip


def _pick(row: tuple[str | Cell, ...], shown: list[Column]) -> tuple[str | Cell, ...]:
    """The cells of ``row`` (every engine column) for the columns ``shown``."""
    keys = {c.key for c in shown}
    return tuple(v for c, v in zip(ENGINE_COLUMNS, row, strict=True) if c.key in keys)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


class FleetScreen(Screen[str | None]):
    """Dismisses with the socket path of the engine to drill into (None: quit)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # The action keys are in the hint above the footer, which keeps to moving about
        # (at 80 columns it had cut "? Keys").
        Binding("enter", "drill", "Open engine", show=True),
        *(
            Binding(str(i), f"drill('{pane}')", f"Open engine on {pane}", show=False)
            for i, pane in enumerate(VIEW_PANES, 1)
        ),
        *(Binding(key, f"act('{what}')", title, show=False) for key, what, title in ACTS),
        Binding("space,p", "pause", "Pause", show=True, key_display="space"),
        RESUME,
        # The Fleet view's own repaint interval (the app's refresh is for engine views).
        Binding("plus,equals_sign", "faster", "Repaint faster", show=False, key_display="+"),
        Binding("minus", "slower", "Repaint slower", show=False, key_display="-"),
        Binding("q", "quit_panel", "Quit", show=True),
        Binding("escape", "back", "Back to the engine", show=True),
    ]

    def __init__(
        self,
        feed: FleetFeed | RedisFleetFeed,
        *,
        refresh: float = 0.5,
        read_only: bool = False,
        can_go_back: bool = False,
        highlight: str | None = None,
    ) -> None:
        """``can_go_back``: opened from an engine (key 0), so Escape returns to it;
        ``highlight``: that engine's id, its row highlighted (Enter reopens it)."""
        super().__init__(id="fleet")
        self.feed = feed
        self.can_go_back = can_go_back
        self.open_view: str | None = None  # the view a digit asked the engine to open on
        self.highlight = highlight  # the engine to put the cursor on once its row shows
        self._shown_rows = False  # engine rows painted at least once (pause keeps them)
        self.refresh_every = bounded(refresh)
        self._timer: Timer | None = None
        self.read_only = read_only
        self.repaints = 0
        self._header = self._hint = ""
        self._empty: bool | None = None  # no engine at the last repaint (footer keys)
        self.actions = FleetActions(self)

    def compose(self) -> ComposeResult:
        yield Static("", id="fleet-header")
        yield LiveTable(ENGINE_COLUMNS, id="fleet-engines")
        yield Static(self.totals_title(), id="fleet-totals-title")
        yield LiveTable(TOTAL_COLUMNS, id="fleet-totals")
        yield Static(hint_text(120, back=self.can_go_back), id="fleet-hint")
        yield Footer(compact=True)

    def on_resize(self) -> None:
        self.repaint()  # the split and the hint fit the new width at once

    def on_mount(self) -> None:
        self.query_one("#fleet-totals", LiveTable).zebra_stripes = False
        self._timer = self.set_interval(self.refresh_every, self.repaint, name="fleet-repaint")
        self.repaint()

    def set_refresh(self, rate: float) -> None:
        """Repaint every ``rate`` seconds (bounded as the app's refresh), from now on; the
        header shows it, and the app keeps it for the next visit to this view."""
        rate = bounded(rate)
        self.refresh_every = rate
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(rate, self.repaint, name="fleet-repaint")
        if hasattr(self.app, "fleet_refresh"):
            self.app.fleet_refresh = rate
        self.repaint()
        self.notify(f"Fleet view repaints every {rate:g} s", timeout=2)

    def action_faster(self) -> None:
        self.set_refresh(faster(self.refresh_every))

    def action_slower(self) -> None:
        self.set_refresh(slower(self.refresh_every))

    DEFAULT_CSS = """
    FleetScreen #fleet-engines { height: auto; max-height: 60%; }
    FleetScreen #fleet-totals { height: 1fr; }
    FleetScreen #fleet-totals-title { margin-top: 1; text-style: bold; }
    FleetScreen #fleet-hint { color: $text-muted; margin-top: 1; }
    """

    # ---- painting --------------------------------------------------------------------
    def totals_title(self) -> str:
        if isinstance(self.feed, RedisFleetFeed):
            return "Totals over engines (stale ones included) · v: fleet-wide overrides"
        return "Totals over engines"

    def header_text(self, width: int | None = None) -> str:
        """The header line; given ``width`` it fits in one line: the refresh interval
        goes first, then the end is cut with an ellipsis (a long Redis URL)."""
        main, error = self._header_parts()
        every = f" · every {self.refresh_every:g}s"  # as the app's header shows its refresh
        if width is None:
            return main + every + error
        return fmt.first_that_fits(width, main + every + error, main + error)

    def _header_parts(self) -> tuple[str, str]:
        """The header's counts and where, and its error suffix (empty without one)."""
        n = len(self.feed.members)
        text = f" fleet · {n} engine{'s' if n != 1 else ''}"
        if isinstance(self.feed, FleetFeed) and n == 0 and self.feed.scans:
            text += f" (none runs on this host: searched {runtime_dir()}/)"
        if isinstance(self.feed, RedisFleetFeed):
            hosts = self.feed.hosts()
            text += f" on {hosts} host{'s' if hosts != 1 else ''}"
        if self.feed.departed:
            text += f" · {len(self.feed.departed)} gone"
        if self.read_only:  # as the engine views' badge: the actions below are refused
            text += " · READ-ONLY"
        if self.paused:
            at = getattr(self.app, "paused_at", None) or time.time()
            text += f" · PAUSED · data of {time.strftime('%H:%M:%S', time.localtime(at))}"
        if isinstance(self.feed, RedisFleetFeed):
            text += f" · {self.feed.where}"
        return text, (f"  ·  {self.feed.error}" if self.feed.error else "")

    @property
    def paused(self) -> bool:
        """The app's pause (one for every view): the tables keep what they show."""
        return bool(getattr(self.app, "paused", False))

    def action_pause(self) -> None:
        self.app.action_pause()  # type: ignore[attr-defined]  # FlowdeckApp's
        self.repaint()

    action_resume = action_pause

    def repaint(self) -> None:
        self.repaints += 1
        header = self.header_text(self.size.width or None)
        if header != self._header:  # a Static update re-lays out the screen: only on change
            self._header = header
            self.query_one("#fleet-header", Static).update(header)
        empty = not self.feed.members
        if empty != self._empty:
            self._empty = empty
            self.refresh_bindings()  # the footer offers actions only with engines to act on
        if self.paused and self._shown_rows:
            return  # frozen; but a Fleet view opened while paused paints its first rows
        hint = hint_text(self.size.width, len(self.feed.members), back=self.can_go_back)
        if hint != self._hint:
            self._hint = hint
            self.query_one("#fleet-hint", Static).update(hint)
        rows = self.feed.rows()
        table = self.query_one("#fleet-engines", LiveTable)
        keys = [r["id"] for r in rows]
        cells = [self._engine_cells(r) for r in rows]
        shown = engine_columns(cells, self.size.width or self.app.size.width, table.sort_column)
        table.set_columns(shown)
        _sync(table, keys, [_pick(row, shown) for row in cells])
        if rows and self.paused and not self._shown_rows:
            self.app.paused_at = time.time()  # type: ignore[attr-defined]  # the moment shown
            self._header = ""  # the header's "data of" time with it
        self._shown_rows = self._shown_rows or bool(rows)
        if self.highlight is not None and self.highlight in keys:
            table.move_cursor(row=keys.index(self.highlight), animate=False)
            self.highlight = None
        totals = self.feed.totals()
        tkeys: list[str] = []
        tcells: list[tuple[str | Cell, ...]] = []

        def num(v: object) -> Cell:  # sorts by its number (s / S: biggest first)
            value = v if isinstance(v, int | float) and not isinstance(v, bool) else None
            return Cell(str(v), value, right=True)

        for name, t in sorted(totals["caches"].items()):
            tkeys.append(f"cache:{name}")
            rate, size = t["hit_rate"], t["size"]
            tcells.append(("cache", name, num(t["engines"]), num(t["hits"]), num(t["misses"]),
                           Cell(_pct(rate), rate, right=True), Cell(str(size), size)))  # fmt: skip
        for name, t in sorted(totals.get("memories", {}).items()):
            tkeys.append(f"memory:{name}")
            tcells.append(
                ("memory", name, num(t["engines"]), "", "", "", Cell(str(t["size"]), t["size"]))
            )
        table = self.query_one("#fleet-totals", LiveTable)
        room = _split_room(table, self.size.width, tcells)
        for name, t in sorted(totals["routers"].items()):
            tkeys.append(f"router:{name}")
            mode = pin_text(t.get("pins") or {}, t["engines"])
            split = split_text(t["split"], max(1, room - len(mode)))
            tcells.append(("router", name, num(t["engines"]), "", "", "", mode + split))
        _sync(table, tkeys, tcells)
        _widths_settled(self.query_one("#fleet-engines", LiveTable))
        _widths_settled(table)

    @staticmethod
    def _engine_cells(r: dict[str, Any]) -> tuple[str | Cell, ...]:
        level = r["level"]
        # Whole seconds: a fresh row reads "0s" and stays unchanged between frames, so
        # eight engines do not repaint their rows every refresh for a flickering decimal.
        age = "-" if r["age"] is None else f"{int(r['age'])}s"
        if level == "gone":  # its last figures, greyed; the age counts since it left
            age = f"gone {age} ago"
        elif level != "ok":
            age += f" {level}"
        redis = "-" if r["redis"] is None else ("up" if r["redis"] else "DOWN")
        dim = LEVEL_STYLE["gone"] if level == "gone" else ""
        return (
            Cell(r["name"] + (" [ro]" if r.get("read_only") else ""), style=dim),
            Cell(r["host"], style=dim),
            Cell(str(r["pid"]), right=True, style=dim),
            Cell(fmt.NONE if level == "gone" else fmt.uptime(r["uptime"]), right=True, style=dim),
            Cell(fmt.rate(r["rate"]), right=True, style=dim),
            Cell(_pct(r["hit_rate"]), right=True, style=dim),
            Cell(str(r["errors"]), right=True, style=dim),
            Cell(redis, style=dim),
            Cell(age, style=LEVEL_STYLE[level]),
        )

    # ---- actions ---------------------------------------------------------------------
    def selected(self) -> Member | RemoteMember | None:
        table = self.query_one("#fleet-engines", DataTable)
        ordered = self.feed.ordered()
        if not ordered or table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.feed.members.get(str(key))

    def action_drill(self, pane: str | None = None) -> None:
        """Open the highlighted engine (``pane``: on that view, the digit keys)."""
        m = self.selected()
        if m is None:
            self._say_gone()
        elif isinstance(m, Member):
            self.open_view = pane
            self.dismiss(str(m.engine.socket))
        elif isinstance(m, RemoteMember):
            self.run_worker(self._drill_remote(m), group="fleet-drill", exclusive=True)

    def _say_gone(self) -> None:
        """Enter on a gone row: say so instead of doing nothing."""
        table = self.query_one("#fleet-engines", DataTable)
        if table.row_count == 0:
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if key in self.feed.departed:
            row, _ = self.feed.departed[key]
            self.app.notify(
                f"{row['name']} pid {row['pid']} on {row['host']} is no longer running; "
                "its row leaves this list a minute after it went.",
                title="Engine gone",
                severity="warning",
            )

    async def _drill_remote(self, m: RemoteMember) -> None:
        """Attach when its socket answers here with its id; else its heartbeat view."""
        assert isinstance(self.feed, RedisFleetFeed)
        path = await self.feed.local_socket(m)
        if path is not None:
            self.dismiss(str(path))
        else:
            self.app.push_screen(RemoteEngineScreen(self.feed, m.engine.id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter (or a click) on an engine row: the table takes Enter before the screen.
        On a totals row there is nothing to open: say which keys act on it."""
        if event.data_table.id == "fleet-engines":
            event.stop()
            self.action_drill()
        elif event.data_table.id == "fleet-totals":
            event.stop()
            total = self.highlighted_total()
            if total is not None:
                kind, name = total
                self.app.notify(
                    f"On every engine that has it: {TOTAL_KEYS.get(kind, '')}.",
                    title=f"{kind} {name!r}",
                )

    def action_quit_panel(self) -> None:
        self.app.exit()

    def highlighted_total(self) -> tuple[str, str] | None:
        """(kind, name) of the highlighted totals row (the target of the actions)."""
        totals = self.query_one("#fleet-totals", DataTable)
        if totals.row_count == 0:
            return None
        key = str(totals.coordinate_to_cell_key(totals.cursor_coordinate).row_key.value)
        kind, _, name = key.partition(":")
        return kind, name

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No engine: no action or drill-down to offer (the footer drops those keys);
        Escape only when there is an engine to go back to."""
        if action == "back":
            return self.can_go_back
        shown = pause_shown(action, self.paused)
        if shown is not None:  # pause or resume: one of the two, so the footer says which
            return shown
        return bool(self.feed.members) or action not in ("act", "drill")

    def action_back(self) -> None:
        self.dismiss(None)

    def action_act(self, what: str) -> None:
        """One of the fleet actions on the highlighted totals row."""
        getattr(self.actions, what)()

    def fleet_commands(self) -> Iterator[SystemCommand]:
        """The palette's entries for :data:`ACTS` (none while no engine runs)."""
        if not self.feed.members:
            return
        for key, what, title in ACTS:
            yield SystemCommand(title, f"key {key}", partial(self.action_act, what), False)


def hint_text(width: int, engines: int = 1, back: bool = False) -> str:
    """The key hint wrapped to ``width`` columns between items (with no engine, what
    the empty view means instead of keys that have nothing to act on); ``back``: Escape
    returns to the engine the Fleet view was opened from."""
    lines, line = [], ""
    items = HINT_ITEMS if engines else EMPTY_HINT_ITEMS
    if back:
        items = (*items[:-1], (items[-1][0], " · "), ("esc goes back to the engine", ""))
    for item, sep in items:
        if line and len(line.rstrip()) + 1 + len(item) > width - 1:
            lines.append(line.rstrip().removesuffix(" ·"))
            line = ""
        if sep == "\n":
            lines.append(line + item)
            line = ""
        else:
            line += item + sep
    return "\n".join([*lines, line.rstrip()] if line else lines)


def pin_text(pins: dict[str | None, int], engines: int) -> str:
    """What the router's engines are pinned to, before its split: "" when every one
    is on auto, "pinned fast · ", or "pinned fast on 2 of 3 · " when they differ (a
    worker restarted since a fleet-wide pin; the split alone is the lifetime one)."""
    pinned = {k: v for k, v in pins.items() if k is not None}
    if not pinned:
        return ""
    if len(pinned) == 1 and sum(pinned.values()) == engines:
        return f"pinned {next(iter(pinned))} · "
    parts = [f"{route} on {n} of {engines}" for route, n in sorted(pinned.items())]
    return "pinned " + ", ".join(parts) + " · "


def split_text(split: dict[str, float], room: int | None = None) -> str:
    """ "fast 71% quality 29% +1 idle": the busiest routes first, idle ones counted; as
    many routes as fit in ``room`` characters (at least one), the rest counted ("+2 more"
    when a route left out carried traffic)."""
    ranked = sorted(((v, k) for k, v in split.items() if v > 0), reverse=True)
    busy = len(ranked)
    parts = [f"{k} {v * 100:.0f}%" for v, k in ranked[:SPLIT_SHOWN]]
    while True:
        rest = len(split) - len(parts)
        tail = [f"+{rest} {'more' if busy > len(parts) else 'idle'}"] if rest else []
        text = " ".join(parts + tail) or "-"
        if room is None or len(text) <= room or len(parts) <= 1:
            return text
        parts.pop()


def _split_room(table: LiveTable, width: int, rows: list[tuple[str | Cell, ...]]) -> int:
    """Characters the split column has when the table fills ``width`` (at least 16);
    the column is pinned to that width, so a long split never scrolls the table sideways
    (the terminal may have shrunk since the column last grew). The other columns are as
    wide as they are now or as ``rows`` (about to be shown) will make them."""
    others = 0
    for i, (key, col) in enumerate(table.columns.items()):
        if str(key.value) == SPLIT:
            continue
        need = max((len(_text(r[i])) for r in rows if i < len(r)), default=0)
        others += max(col.get_render_width(table), need + 2 * table.cell_padding)
    room = max(16, width - others - 2 * table.cell_padding - 1)
    col = table.columns.get(SPLIT)  # type: ignore[call-overload]  # ColumnKey hashes as its str
    if col is not None and (col.auto_width or col.width != room):
        col.width, col.auto_width = room, False
        table._clear_caches()
        table._require_update_dimensions = True
        table.refresh()
    return room


def _widths_settled(table: LiveTable) -> None:
    """Repaint the whole table once after its columns changed width: the header line
    could stay rendered at the old widths (seen over Redis, where rows arrive after the
    first paint), because LiveTable keeps renders across updates."""
    widths = tuple(c.get_render_width(table) for c in table.columns.values())
    if getattr(table, "_fleet_widths", None) != widths:
        table._fleet_widths = widths  # type: ignore[attr-defined]  # our mark on the table
        table._update_count += 1  # every render cache is keyed by it
        table.refresh()


def _text(cell: str | Cell) -> str:
    return cell if isinstance(cell, str) else cell.text


def _sync(table: LiveTable, keys: list[str], cells: list[tuple[str | Cell, ...]]) -> None:
    """Rows in the order of ``keys`` (unless the operator sorted the table: then its
    sort); only changed cells repaint (LiveTable), so a fleet of eight costs what its
    changes cost. When rows come or go, rebuild in order (the highlighted row stays
    highlighted). Text is plain, never markup: names come from
    engines (``api [ro]`` must show as it is)."""
    cols = [c.key for c in table.spec]
    rows = {
        key: {c: (Cell(v) if isinstance(v, str) else v) for c, v in zip(cols, row, strict=True)}
        for key, row in zip(keys, cells, strict=True)
    }
    if table.sort_column is None and [str(k.value) for k in table.rows] != keys:
        cursor = table.selected_key
        table.sync({})
        table.sync(rows)
        if cursor in rows:
            table.move_cursor(row=keys.index(str(cursor)), animate=False)
        return
    table.sync(rows)
