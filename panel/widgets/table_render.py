"""PassRenderTable: DataTable's rendering, with what one render pass shares worked out once.

DataTable re-derives, for every line, row and cell it renders, things that cannot change
within one ``render_lines`` pass (component styles, each an ancestor walk; the column
widths; the column keys) and hashes its long cache keys up to three times per lookup. In
a busy table every visible row changes on every refresh, so that overhead was most of
the panel's own CPU. This class renders the same strips (a test compares them with
DataTable's, line by line) for the shape LiveTable uses, a row cursor without fixed
columns or row labels, and leaves any other shape to DataTable. It reads DataTable's
private caches by name: the textual range is pinned in pyproject.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, cast

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._segment_tools import line_crop
from textual.color import Color
from textual.coordinate import Coordinate
from textual.css.styles import RenderStyles
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from flowdeck.panel.widgets.table_cell import Cell


class PassRenderTable(DataTable[Any]):
    """A DataTable whose line, row and cell renders share one memo per render pass."""

    # The styles and column facts looked up in the current render pass (None between
    # passes); a class default, so the style properties work before __init__ has run.
    _pass: dict[str, Any] | None = None

    def __init__(self, **kwargs: Any) -> None:
        # (row key, column key) -> (what it was drawn for, its lines): see _cell_lines
        self._drawn: dict[tuple[Any, Any], tuple[tuple[Any, ...], list[list[Segment]]]] = {}
        super().__init__(**kwargs)

    # DataTable looks up its own and its row styles for every line it renders, each an
    # ancestor walk; a pass over the changed lines of a busy table spent a fifth of its
    # time there. Within one ``render_lines`` pass no style can change: look each up once.
    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    @property
    def rich_style(self) -> Style:
        memo = self._pass
        if memo is None:
            return super().rich_style
        if "" not in memo:
            memo[""] = super().rich_style
        return cast(Style, memo[""])

    @property
    def background_colors(self) -> tuple[Color, Color]:
        memo = self._pass
        if memo is None:
            return super().background_colors
        if " bg" not in memo:
            memo[" bg"] = super().background_colors
        return cast("tuple[Color, Color]", memo[" bg"])

    def get_component_styles(self, *names: str) -> RenderStyles:
        memo = self._pass
        if memo is None or len(names) != 1:
            return super().get_component_styles(*names)
        name = names[0]
        if name not in memo:
            memo[name] = _PassStyles(super().get_component_styles(name))
        return cast(RenderStyles, memo[name])

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """DataTable's line render with one cache lookup where it makes three (its
        LRUCache hashes the 11-field key on ``in`` and twice on ``[]``), and without
        listing the columns to sum the fixed ones' widths when there are none."""
        if self._pass is None:
            return super()._render_line(y, x1, x2, base_style)
        key = (
            y,
            x1,
            x2,
            self.size.width,
            self.cursor_coordinate,
            self.hover_coordinate,
            base_style,
            self.cursor_type,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        strip = self._line_cache.get(key)
        if strip is not None:
            return strip
        width = self.size.width
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        fixed, scrollable = self._render_line_in_row(
            row_key, line_no, base_style, self.cursor_coordinate, self.hover_coordinate
        )
        if fixed:  # fixed columns or row labels: DataTable's way
            return super()._render_line(y, x1, x2, base_style)
        line = line_crop(list(chain.from_iterable(scrollable)), x1, x2, width)
        strip = Strip(line).adjust_cell_length(width, base_style).simplify()
        self._line_cache[key] = strip
        return strip

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        """DataTable's row render for this table's shape (a row cursor, no fixed
        columns, no row labels), with what is the same for every row of a render pass
        (the column widths, the table width) worked out once per pass.

        DataTable re-derives them per row and per cell: a changed row spent more time
        there than on its cells. Any other shape, or a call outside a pass, goes
        DataTable's way; the renders and cache keys are DataTable's own.
        """
        memo = self._pass
        if (
            memo is None
            or self.fixed_columns
            or self.cursor_type != "row"
            or (self._labelled_row_exists and self.show_row_labels)
        ):
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        show_cursor = self.show_cursor
        key = (
            row_key,
            line_no,
            base_style,
            cursor_location,
            hover_location,
            self.cursor_type,
            show_cursor,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cache = self._row_render_cache
        found = cache.get(key)
        if found is not None:
            return found
        widths = memo.get(" widths")
        if widths is None:
            columns = self.ordered_columns
            widths = memo[" widths"] = [c.get_render_width(self) for c in columns]
            memo[" keys"] = [c.key for c in columns]
            memo[" table"] = sum(widths) + self._row_label_column_width
        row_index = self._row_locations.get(row_key)
        if row_index is None:
            row_index = -1
        row_style = self._get_row_style(row_index, base_style)
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        if row_index < self.fixed_rows:  # the header (-1) and fixed rows: DataTable's way
            render_cell = self._render_cell
            scrollable: list[list[Segment]] = [
                render_cell(row_index, i, row_style, w, cursor=cursor, hover=hover)[line_no]
                for i, w in enumerate(widths)
            ]
        else:
            cell_lines = self._cell_lines
            scrollable = [
                cell_lines(row_key, k, row_index, i, row_style, w, cursor, hover)[line_no]
                for i, (k, w) in enumerate(zip(memo[" keys"], widths, strict=True))
            ]
        extend, _ = self._get_styles_to_render_cell(
            row_index == -1,
            False,
            False,
            hover,
            cursor,
            show_cursor,
            self._show_hover_cursor,
            False,
            False,
        )
        extend = row_style + extend
        extend += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        room = max(0, self.size.width - memo[" table"])
        scrollable.append([Segment(" " * room, extend)])
        pair: tuple[list[list[Segment]], list[list[Segment]]] = ([], scrollable)
        cache[key] = pair
        return pair

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable's cell render, without Rich's layout for a one-line Cell of plain
        narrow text that fits (``fast_lines``: the same segments, a fraction of the cost);
        anything else, the header included, goes DataTable's way."""
        if row_index < self.fixed_rows or column_index < self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        return self._cell_lines(
            row_key, column_key, row_index, column_index, base_style, width, cursor, hover
        )

    def _cell_lines(
        self,
        row_key: RowKey,
        column_key: ColumnKey,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]]:
        """``_render_cell`` of a body cell whose keys the caller knows already.

        Its renders are kept in ``_drawn`` by the two key strings, beside what they were
        drawn for (DataTable's cache key fields, the row index and the width): a lookup
        hashes two strs whose hashes are cached, and the comparison finds the same style
        objects, where DataTable's key hashes its key and style objects in Python on
        every lookup (most of a changed line's cost was there).
        """
        at = (row_key.value, column_key.value)
        drawn_for = (
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
            row_index,
            width,
        )
        found = self._drawn.get(at)
        if found is not None and found[0] == drawn_for:
            return found[1]
        cell = self._data.get(row_key, {}).get(column_key)
        row = self.rows.get(row_key)
        if not isinstance(cell, Cell) or row is None or row.height != 1:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._drawn[at] = (drawn_for, lines)
            return lines
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index})
        fast = fast_lines(
            cell, width, self.cell_padding, pre + component_style, post_style, self.app.console
        )
        lines = (
            super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            if fast is None
            else fast
        )
        self._drawn[at] = (drawn_for, lines)
        return lines

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._drawn.clear()

    def forget_drawn(self, cells: set[tuple[str, str]]) -> None:
        """Drop the kept renders of these (row key, column key) cells."""
        drawn = self._drawn
        for at in cells:
            drawn.pop(at, None)


class _PassStyles:
    """A component's styles for one render pass: its rich style computed once."""

    __slots__ = ("_styles", "rich_style")

    def __init__(self, styles: RenderStyles) -> None:
        self._styles = styles
        self.rich_style = styles.rich_style

    def __getattr__(self, name: str) -> Any:
        return getattr(self._styles, name)


def fast_lines(
    cell: Cell, width: int, padding: int, pre: Style, post: Style, console: Console
) -> list[list[Segment]] | None:
    """What ``console.render_lines(Styled(Padding(cell, (0, padding)), pre, post))`` gives
    a one-line cell ``width`` wide (DataTable's render of it), built directly; None when
    the text is not printable, one cell a character, without edge spaces, and fitting
    (then Rich's way)."""
    text = cell.text
    room = width - 2 * padding
    if room <= 0 or len(text) > room or not text.isprintable():
        return None
    if not text.isascii() and cell_len(text) != len(text):  # wide or zero-width characters
        return None
    if text != text.strip() or not pre:  # DataTable's pre style always carries meta
        return None
    gap = " " * (room - len(text))
    body = gap + text if cell.right else text + gap
    own = console.get_style(cell.style) if cell.style else None
    styled = pre + own
    edge = pre
    if post:
        edge, styled = edge + post, styled + post
    if not padding:
        return [[Segment(body, styled)]]
    pad = " " * padding
    return [[Segment(pad, edge), Segment(body, styled), Segment(pad, edge)]]
