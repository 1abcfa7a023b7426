"""Caches: every cache in a sortable table, updated cell by cell."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label

from flowdeck.panel import fmt
from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.state import PanelState
from flowdeck.panel.views.base import TableView
from flowdeck.panel.widgets.cache_detail import CacheDetail
from flowdeck.panel.widgets.cache_rates import rate_level
from flowdeck.panel.widgets.live_table import Cell, Column, LiveTable

COLUMNS = [
    Column("name", "Cache"),
    Column("layers", "Layers"),
    Column("size", "Size/Max", right=True),
    Column("hit_rate", "Hit% all", right=True),  # since start (Overview: last second)
    Column("hits", "Hits", right=True),
    Column("misses", "Misses", right=True),
    Column("evictions", "Evict lru/ttl/rsz", right=True),
    Column("ttl", "TTL", right=True),
    Column("time_saved", "Time saved", right=True),
    Column("cost_saved", "$ saved", right=True),
]
KEYS = tuple(c.key for c in COLUMNS)
NARROW = 110
"""Below this many columns the table leaves out WIDE_ONLY, so Time saved and $ saved
stay on screen (80 columns cut them); the detail box under the table shows both."""
WIDE_ONLY = ("layers", "evictions")


def columns_for(width: int) -> list[Column]:
    """The table's columns at ``width`` cells (by width alone: the cells stay lazy)."""
    return COLUMNS if width >= NARROW else [c for c in COLUMNS if c.key not in WIDE_ONLY]


def cache_rows(state: PanelState, pal: dict[str, str]) -> dict[str, Mapping[str, Cell]]:
    """Table cells for every cache in the model; each row's cells are made when first
    read (the table reads only the sort cell of a row off screen)."""
    return {name: CacheRow(name, c, pal) for name, c in state.group("caches").items()}


class CacheRow(Mapping[str, Cell]):
    """One cache's cells, made on first read (its name cell without the others)."""

    __slots__ = ("_cache", "_cells", "_name", "_pal")

    def __init__(self, name: str, cache: dict[str, Any], pal: dict[str, str]) -> None:
        self._name, self._cache, self._pal = name, cache, pal
        self._cells: dict[str, Cell] | None = None

    def _all(self) -> dict[str, Cell]:
        if self._cells is None:
            self._cells = cache_cells(self._name, self._cache, self._pal)
        return self._cells

    def __getitem__(self, key: str) -> Cell:
        if key == "name" and self._cells is None:
            return Cell(self._name, style="bold")
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)


def cache_cells(name: str, c: dict[str, Any], pal: dict[str, str]) -> dict[str, Cell]:
    """The table cells of cache ``name``."""
    st: dict[str, Any] = c.get("stats") or {}
    l2 = bool(c.get("l2"))
    l2_err = int(st.get("l2_errors") or 0)
    layers = "L1+L2" if l2 else "L1"
    if l2 and l2_err:
        layers += f" ({fmt.num(l2_err)} err)"
    size = int(st.get("size") or 0)
    max_size = c.get("max_size")
    rate = st.get("hit_rate")
    rate_style = pal[rate_level(rate)]
    ev = st.get("evictions") or {}
    lru, ttl_ev, rsz = (int(ev.get(k) or 0) for k in ("lru", "ttl", "resize"))
    ttl = c.get("ttl")
    return {
        "name": Cell(name, style="bold"),
        "layers": Cell(layers, style=pal["warning"] if l2_err else ""),
        "size": Cell(f"{fmt.num(size)}/{fmt.num(max_size)}", size, right=True),
        "hit_rate": Cell(
            fmt.pct(rate), rate if rate is not None else -1.0, style=rate_style, right=True
        ),
        "hits": Cell(fmt.num(st.get("hits")), int(st.get("hits") or 0), right=True),
        "misses": Cell(fmt.num(st.get("misses")), int(st.get("misses") or 0), right=True),
        "evictions": Cell(
            f"{fmt.num(lru)}/{fmt.num(ttl_ev)}/{fmt.num(rsz)}", lru + ttl_ev + rsz, right=True
        ),
        "ttl": Cell(fmt.ttl(ttl), ttl if ttl is not None else float("inf"), right=True),
        "time_saved": Cell(
            fmt.secs(st.get("time_saved")), float(st.get("time_saved") or 0.0), right=True
        ),
        "cost_saved": Cell(
            fmt.money(st.get("cost_saved")),
            float(st.get("cost_saved") or 0.0),
            style=pal["success"],
            right=True,
        ),
    }


class CachesView(TableView):
    """Filterable, sortable cache table with flush / TTL / size actions."""

    # The footer names this view's actions (what fits in 80 columns; the rest: ?).
    BINDINGS: ClassVar[list[BindingType]] = footer_bindings(
        "flush", "flush_all", "set_ttl", "set_size"
    )

    group = "caches"
    filter_id = "cache-filter"

    def rows(self, colors: dict[str, str]) -> dict[str, Mapping[str, Cell]]:
        return cache_rows(self.state, colors)

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter caches (/)", id="cache-filter", compact=True, classes="filter"
        )
        yield LiveTable(COLUMNS, id="cache-table")
        # The table takes the room the rest leaves (LiveTable's height: 1fr), so the
        # detail and the buttons stay on screen however many caches there are.
        yield CacheDetail(self.state, id="cache-detail")
        with Horizontal(classes="actions"):
            yield Button(
                "Flush", action="app.flush", compact=True, classes="mutating", id="btn-flush"
            )
            yield Button(
                "Flush all",
                action="app.flush_all",
                compact=True,
                classes="mutating",
                id="btn-flush-all",
            )
            yield Button(
                "TTL…", action="app.set_ttl", compact=True, classes="mutating", id="btn-set-ttl"
            )
            yield Button(
                "Max size…",
                action="app.set_size",
                compact=True,
                classes="mutating",
                id="btn-set-size",
            )
            yield Label("click a header or press s/S to sort", classes="hint")

    def on_data_table_row_highlighted(self, event: LiveTable.RowHighlighted) -> None:
        super().on_data_table_row_highlighted(event)
        self.query_one(CacheDetail).select(event.row_key.value)

    def on_resize(self) -> None:
        super().on_resize()
        table = self.table
        if (
            table is not None
            and self.size.width
            and table.set_columns(columns_for(self.size.width))
        ):
            self.refresh_view(force=True)  # the rows again, in the new columns
