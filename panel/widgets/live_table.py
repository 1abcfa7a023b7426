"""LiveTable: a DataTable whose rows are updated in place (no clear and refill).

Longer than most modules on purpose: in-place sync, sorting and filtering and deferring
rows off screen all read and write the same per-row cell state and DataTable's caches;
split apart, each would reach into the others' private fields. How a pass renders lines
is :mod:`table_render`'s; what a cell is, :mod:`table_cell`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from flowdeck.panel import fmt
from flowdeck.panel.widgets.table_cell import Cell
from flowdeck.panel.widgets.table_render import PassRenderTable

__all__ = ["MAX_AUTO_WIDTH", "Cell", "Column", "LiveTable"]

MAX_AUTO_WIDTH = 32  # cells: a longer name in an auto-width column ends in "…"


@dataclass(frozen=True)
class Column:
    """A column: key, header label, width (None = fit, up to ``max_width`` cells),
    right-aligned numbers."""

    key: str
    label: str
    width: int | None = None
    right: bool = False
    max_width: int = MAX_AUTO_WIDTH


class LiveTable(PassRenderTable):
    """DataTable fed with ``sync(rows)``: adds, removes and updates rows by key.

    Only cells whose content changed are touched (``update_cell``); ordering follows the
    current sort column, which the user picks by clicking a header or with ``s`` / ``S``.
    A cell wider than its column's ``max_width`` is shown cut with an ellipsis (by
    terminal cells, so CJK and emoji count double), so one long name cannot push the
    other columns off screen; the filter still matches its whole text.
    """

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort_next", "Sort", show=False),
        Binding("S", "sort_reverse", "Reverse sort", show=False),
    ]

    def __init__(self, columns: list[Column], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.spec = columns
        self._cells: dict[str, dict[str, Cell]] = {}
        self._pending: dict[str, Mapping[str, Cell]] = {}  # off screen: latest cells, unwritten
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.filter_text = ""
        self._needs_sort = False
        self._widths: tuple[int, ...] = ()  # column widths last painted (see on_idle)
        self._reselect: str | None = None  # the row to put the cursor on after set_columns

    def on_mount(self) -> None:
        for col in self.spec:
            self.add_column(self._label(col), key=col.key, width=col.width)

    def on_idle(self, event: events.Idle) -> None:
        """Repaint the whole table once its column widths settled at new values: rows
        rendered before DataTable measured them (on idle) stay cached at the old widths,
        e.g. every row after ``set_columns`` at its label's width ("bala…")."""
        widths = tuple(c.get_render_width(self) for c in self.columns.values())
        if widths != self._widths:
            self._widths = widths
            self._clear_caches()
            self.refresh()

    def set_columns(self, columns: list[Column]) -> bool:
        """Show ``columns`` instead (a narrower set on a small terminal); the rows are
        added again by the next ``sync``, the sort column kept when it is still shown.
        False when they are the columns shown already (nothing changed)."""
        if [c.key for c in columns] == [c.key for c in self.spec]:
            return False
        selected = self.selected_key
        self.clear(columns=True)
        self.spec = columns
        self._cells = {}
        self._pending = {}
        for col in columns:
            self.add_column(self._label(col), key=col.key, width=col.width)
        keys = [c.key for c in columns]
        # Unsorted stays unsorted (the Fleet view keeps its feed's order), else the sort
        # column if it is still shown, else the first.
        keep = self.sort_column is None or self.sort_column in keys
        self.set_sort(self.sort_column if keep else keys[0], self.sort_reverse)
        self._reselect = selected
        return True

    def fit(
        self, key: str, width: int, rows: Mapping[str, Mapping[str, Cell]], least: int = 8
    ) -> int:
        """Pin column ``key`` to the cells the other columns leave of ``width`` (at least
        ``least``) and return that room, so a long text (a provider list, an error) is
        clipped to fit instead of pushing columns off the right edge. The others are as
        wide as they are now or as ``rows`` (about to be shown) will make them."""
        pad = 2 * self.cell_padding
        others = 0
        for col in self.spec:
            if col.key == key:
                continue
            need = max(
                (cell_len(r[col.key].text) for r in rows.values() if col.key in r), default=0
            )
            shown = self.columns[col.key]  # type: ignore[index]  # ColumnKey hashes as its str
            others += max(shown.get_render_width(self), need + pad)
        room = max(least, width - others - pad)
        shown = self.columns[key]  # type: ignore[index]  # ColumnKey hashes as its str
        if shown.auto_width or shown.width != room:
            shown.width, shown.auto_width = room, False
            self._clear_caches()
            self._require_update_dimensions = True
            self.refresh()
        return room

    # ---- data ---------------------------------------------------------------------
    def sync(self, rows: Mapping[str, Mapping[str, Cell]]) -> None:
        """Make the table show ``rows`` (row key -> column key -> Cell), in place.

        A row off screen only keeps its latest cells (``_pending``) and its sort cell
        (the order needs it); the rest is written when the row is scrolled into view
        (``watch_scroll_y``, a resize) or at the next sync that finds it on screen, so
        a table of many rows costs per sync what its visible rows cost.
        """
        words = self.filter_text.lower().split()
        wanted = {k: v for k, v in rows.items() if _matches(v, words)} if words else rows
        for key in [k for k in self._cells if k not in wanted]:
            self.remove_row(key)
            del self._cells[key]
            self._pending.pop(key, None)
            self.forget_drawn({(key, c.key) for c in self.spec})
        sort_spec = [c for c in self.spec if c.key == self.sort_column]
        changed: dict[str, list[str]] = {}
        for key, cells in wanted.items():
            if key not in self._cells:
                self.add_row(
                    *(self._shown(c, cells.get(c.key, Cell(""))) for c in self.spec), key=key
                )
                self._cells[key] = dict(cells)
                self._pending.pop(key, None)
                self._needs_sort = True
                continue
            self._pending[key] = cells
            if sort_spec:
                self._write(key, cells, sort_spec, changed)
        if self._needs_sort:
            self._apply_sort()
        self._write_visible(changed)
        if self._reselect is not None:
            if self._reselect in self._cells:
                self.move_cursor(row=self.get_row_index(self._reselect), animate=False)
            self._reselect = None

    def _write(
        self,
        key: str,
        cells: Mapping[str, Cell],
        columns: list[Column],
        changed: dict[str, list[str]],
    ) -> None:
        """Write the cells of row ``key`` that differ from what it shows; a changed cell
        that fits its column goes into ``changed`` (its renders are dropped later)."""
        old = self._cells[key]
        for col in columns:
            new = cells.get(col.key, Cell(""))
            if old.get(col.key) == new:
                continue
            shown = self._shown(col, new)
            width = self.columns[col.key].content_width  # type: ignore[index]  # ColumnKey hashes as its str
            if fmt.cells(shown.text) > width:  # the column grows: the full path
                self.update_cell(key, col.key, shown, update_width=True)
            else:
                self._data[key][col.key] = shown  # type: ignore[index]  # keys hash as str
                changed.setdefault(key, []).append(col.key)
            old[col.key] = new
            if col.key == self.sort_column:
                self._needs_sort = True

    def _visible_keys(self) -> set[str] | None:
        """The keys of the rows on screen (a row of margin each side); None before the
        table has a size (then every row counts as shown)."""
        height = self.size.height
        if height <= 0:
            return None
        offsets = self._y_offsets
        first = max(0, int(self.scroll_y) - 1)
        last = min(len(offsets), int(self.scroll_y) + height + 1)
        return {offsets[y][0].value for y in range(first, last)}  # type: ignore[misc]  # RowKey.value is the str key

    def _write_visible(self, changed: dict[str, list[str]] | None = None) -> None:
        """Write the deferred rows that are on screen now, and drop their renders."""
        changed = {} if changed is None else changed
        if self._pending:
            visible = self._visible_keys()
            keys = list(self._pending) if visible is None else visible & self._pending.keys()
            for key in keys:
                self._write(key, self._pending.pop(key), self.spec, changed)
        if changed:
            self._forget_renders(changed)

    def _settle(self, row_key: Any) -> None:
        """Write row ``row_key`` now if it was deferred (a read sees its latest cells)."""
        key = str(row_key.value) if isinstance(row_key, RowKey) else row_key
        cells = self._pending.pop(key, None)
        if cells is not None:
            changed: dict[str, list[str]] = {}
            self._write(key, cells, self.spec, changed)
            if changed:
                self._forget_renders(changed)

    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Any:
        self._settle(row_key)
        return super().get_cell(row_key, column_key)

    def get_row(self, row_key: RowKey | str) -> list[Any]:
        self._settle(row_key)
        return super().get_row(row_key)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._pending and round(old_value) != round(new_value):
            self._write_visible()

    def on_resize(self, event: events.Resize) -> None:
        if self._pending:
            self._write_visible()

    @staticmethod
    def _shown(col: Column, cell: Cell) -> Cell:
        """The cell as the table shows it: an auto-width column stops at its max width."""
        return cell.clipped(col.max_width) if col.width is None else cell

    def _forget_renders(self, changed: dict[str, list[str]]) -> None:
        """Drop the cached renders of the changed cells (and of their rows) only.

        ``DataTable.update_cell`` bumps the table-wide update count that every render
        cache is keyed by, so each changed cell, even off screen, made every visible
        cell render again; here unchanged cells keep their renders (a row off screen
        costs nothing until it is scrolled to). Uses DataTable's caches by name: the
        textual range is pinned in pyproject, and the panel tests render through them.
        """
        cells = {(r, c) for r, cols in changed.items() for c in cols}
        rows = set(changed)
        at = {self.get_row_index(r) for r in rows}
        self.forget_drawn(cells)
        _discard(self._cell_render_cache, cells, _row_col)  # what went DataTable's way
        _discard(self._row_render_cache, rows, _first)
        _discard(self._row_renderable_cache, at, _second)
        # Lines of the table (header first) that show a changed row; repaint those only.
        top = self.header_height if self.show_header else 0
        lines = {top + y for y, (row, _) in enumerate(self._y_offsets) if row in rows}
        _discard(self._line_cache, lines, _first)
        scroll_y, height, width = int(self.scroll_y), self.size.height, self.size.width
        shown = [y - scroll_y for y in lines if top <= y - scroll_y < height]
        if shown:
            self.refresh(*(Region(0, y, width, 1) for y in shown))

    def invalidate(self) -> None:
        """Forget the cached cells so the next sync rewrites every cell (theme change)."""
        for cells in self._cells.values():
            cells.clear()

    @property
    def selected_key(self) -> str | None:
        """The row key under the cursor, if any row exists."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return key.value

    # ---- sorting ------------------------------------------------------------------
    def _label(self, col: Column) -> Text:
        mark = ""
        if col.key == self.sort_column:
            mark = " ▼" if self.sort_reverse else " ▲"
        return Text(col.label + mark, justify="right" if col.right else "left")

    def set_sort(self, column: str | None, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        for col in self.spec:
            shown = self.columns[col.key]  # type: ignore[index]  # ColumnKey hashes as its str
            shown.label = self._label(col)
            if col.width is None:  # auto width: room for the arrow, given back after it
                widest = max(
                    (fmt.cells(self._shown(col, c[col.key]).text)
                     for c in self._cells.values() if col.key in c),
                    default=0,
                )  # fmt: skip
                shown.content_width = max(widest, shown.label.cell_len)
        self._require_update_dimensions = True
        sort_spec = [c for c in self.spec if c.key == column]
        if sort_spec and self._pending:  # rows off screen sort by their latest cell too
            changed: dict[str, list[str]] = {}
            for key, cells in self._pending.items():
                self._write(key, cells, sort_spec, changed)
            if changed:
                self._forget_renders(changed)
        self._needs_sort = True
        self._apply_sort()
        self._write_visible()
        self.refresh()

    def _apply_sort(self) -> None:
        self._needs_sort = False
        if self.sort_column is None or not self.row_count:
            return
        selected = self.selected_key
        tie = self.spec[0].key  # equal values keep a fixed order: by the first column
        if tie == self.sort_column:
            self.sort(self.sort_column, key=lambda c: c.sort_key(), reverse=self.sort_reverse)
        else:
            # A descending sort reverses the tie-break too: _Descending turns it back, so
            # ties always read A to Z.
            wrap = _Descending if self.sort_reverse else _same
            self.sort(
                self.sort_column,
                tie,
                key=lambda cells: (cells[0].sort_key(), wrap(cells[1].sort_key())),
                reverse=self.sort_reverse,
            )
        if selected is not None and selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected), animate=False, scroll=False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key == self.sort_column:
            self.set_sort(key, not self.sort_reverse)
        else:
            self.set_sort(key, self._first_reverse(str(key)))

    def _first_reverse(self, key: str) -> bool:
        """The direction a column sorts in first: numbers biggest first, as btop and k9s
        do, text A to Z (a names column sorted Z to A reads as a bug). A column is of
        numbers when its cells sort by one (a cooldown's "4m13s failures" does), or,
        with no rows yet, when it is right-aligned."""
        for cells in self._cells.values():
            cell = cells.get(key)
            if cell is not None and cell.value is not None:
                value = cell.value
                return isinstance(value, int | float) and not isinstance(value, bool)
        return any(c.key == key and c.right for c in self.spec)

    def action_sort_next(self) -> None:
        """Sort by the next column; after the last, the first again (no unsorted step
        in between, which showed no arrow and an order nobody could name)."""
        keys = [c.key for c in self.spec]
        idx = keys.index(self.sort_column) + 1 if self.sort_column in keys else 0
        key = keys[idx % len(keys)]
        self.set_sort(key, self._first_reverse(key))

    def action_sort_reverse(self) -> None:
        if self.sort_column is None:
            self.set_sort(self.spec[0].key, True)
        else:
            self.set_sort(self.sort_column, not self.sort_reverse)


def _same(value: Any) -> Any:
    return value


class _Descending:
    """A value that sorts the other way round (a tie-break kept ascending under a
    descending sort)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and bool(self.value == other.value)

    __hash__ = None  # type: ignore[assignment]


def _matches(cells: Mapping[str, Cell], words: list[str]) -> bool:
    """True if every filter word occurs in the row's text (case-insensitive)."""
    hay = " ".join(c.text for c in cells.values()).lower()
    return all(w in hay for w in words)


def _discard(cache: Any, wanted: set[Any], pick: Callable[[Any], Any]) -> None:
    """Drop the entries of a textual LRUCache whose ``pick(key)`` is in ``wanted``."""
    keys = cache.keys()  # an LRUCache, not a dict: keys() is its listing
    for key in [k for k in keys if pick(k) in wanted]:
        cache.discard(key)


def _row_col(key: Any) -> Any:
    return (key[0], key[1])  # a cell render: (row key, column key, ...)


def _first(key: Any) -> Any:
    return key[0]  # a row render: (row key, line, ...); a line: (y, ...)


def _second(key: Any) -> Any:
    return key[1]  # row renderables: (update count, row index)
