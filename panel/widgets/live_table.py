"""LiveTable: a DataTable whose rows are updated in place (no clear and refill)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: what is shown, the value it sorts by, and its style."""

    text: str
    value: Any = None
    style: str = ""
    right: bool = False

    def __rich__(self) -> Text:
        return Text(
            self.text,
            style=self.style,
            justify="right" if self.right else "left",
            no_wrap=True,
            end="",
            overflow="ellipsis",
        )

    def sort_key(self) -> tuple[int, Any]:
        v = self.text.lower() if self.value is None else self.value
        if isinstance(v, float) and math.isnan(v):
            return (1, 0)
        return (0, v) if isinstance(v, (int, float)) else (0, str(v))


@dataclass(frozen=True)
class Column:
    """A column: key, header label, width (None = fit), right-aligned numbers."""

    key: str
    label: str
    width: int | None = None
    right: bool = False


class LiveTable(DataTable[Any]):
    """DataTable fed with ``sync(rows)``: adds, removes and updates rows by key.

    Only cells whose content changed are touched (``update_cell``); ordering follows the
    current sort column, which the user picks by clicking a header or with ``s`` / ``S``.
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
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.filter_text = ""
        self._needs_sort = False

    def on_mount(self) -> None:
        for col in self.spec:
            self.add_column(self._label(col), key=col.key, width=col.width)

    # ---- data ---------------------------------------------------------------------
    def sync(self, rows: dict[str, dict[str, Cell]]) -> None:
        """Make the table show ``rows`` (row key -> column key -> Cell), in place."""
        words = self.filter_text.lower().split()
        wanted = {k: v for k, v in rows.items() if _matches(v, words)} if words else rows
        for key in [k for k in self._cells if k not in wanted]:
            self.remove_row(key)
            del self._cells[key]
        sort_col = self.sort_column
        for key, cells in wanted.items():
            old = self._cells.get(key)
            if old is None:
                self.add_row(*(cells.get(c.key, Cell("")) for c in self.spec), key=key)
                self._cells[key] = dict(cells)
                self._needs_sort = True
                continue
            for col in self.spec:
                new = cells.get(col.key, Cell(""))
                if old.get(col.key) != new:
                    width = self.columns[col.key].content_width  # type: ignore[index]
                    self.update_cell(key, col.key, new, update_width=len(new.text) > width)
                    old[col.key] = new
                    if col.key == sort_col:
                        self._needs_sort = True
        if self._needs_sort:
            self._apply_sort()

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
            if col.width is None:  # auto width: make room for the arrow, never clip it
                shown.content_width = max(shown.content_width, shown.label.cell_len)
        self._require_update_dimensions = True
        self._needs_sort = True
        self._apply_sort()
        self.refresh()

    def _apply_sort(self) -> None:
        self._needs_sort = False
        if self.sort_column is None or not self.row_count:
            return
        selected = self.selected_key
        self.sort(self.sort_column, key=lambda c: c.sort_key(), reverse=self.sort_reverse)
        if selected is not None and selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected), animate=False, scroll=False)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key == self.sort_column:
            self.set_sort(key, not self.sort_reverse)
        else:
            self.set_sort(key, key not in (self.spec[0].key,))

    def action_sort_next(self) -> None:
        keys = [c.key for c in self.spec]
        idx = keys.index(self.sort_column) + 1 if self.sort_column in keys else 0
        if idx >= len(keys):
            self.set_sort(None)
            return
        self.set_sort(keys[idx], idx > 0)

    def action_sort_reverse(self) -> None:
        if self.sort_column is None:
            self.set_sort(self.spec[0].key, True)
        else:
            self.set_sort(self.sort_column, not self.sort_reverse)


def _matches(cells: dict[str, Cell], words: list[str]) -> bool:
    """True if every filter word occurs in the row's text (case-insensitive)."""
    hay = " ".join(c.text for c in cells.values()).lower()
    return all(w in hay for w in words)
