"""EventTail: a scrollable view of the event ring that formats only the visible lines."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class EventTail(ScrollView, can_focus=True):
    """Shows ``rows`` (event lists) through ``format_row``; newest at the bottom.

    Setting new rows costs nothing per event: lines are formatted lazily in
    ``render_line`` for the rows on screen only (and cached by sequence number). While
    the view is scrolled to the bottom it follows new events; scrolled up, it stays on
    the same events even as old ones leave the front (rows are in sequence order).
    """

    DEFAULT_CSS = """
    EventTail { height: 1fr; background: $surface; scrollbar-gutter: stable; }
    """

    def __init__(
        self,
        format_row: Callable[[list[Any]], list[tuple[str, Style | None]]],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.format_row = format_row
        self.rows: list[list[Any]] = []
        self._cache: LRUCache[int, Strip] = LRUCache(512)
        self._width = 0
        self.following = True
        self.empty: tuple[str, Style | None] = ("", None)  # the line shown with no rows

    def set_rows(self, rows: list[list[Any]]) -> None:
        """Show ``rows``; keep following the end unless the operator scrolled up."""
        old, self.rows = self.rows, rows
        self.virtual_size = Size(max(self._width, self.size.width), len(rows))
        if self.following:
            self._stick()
        elif old and rows:
            self._keep_top(old, rows)
        self.refresh()

    def _stick(self) -> None:
        """Scroll to the end while following."""
        if self.following:
            # force: before its first layout the widget does not know it can scroll yet.
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _keep_top(self, old: list[list[Any]], rows: list[list[Any]]) -> None:
        """Keep the event that was the top line at the top when the front moved."""
        top = min(max(0, round(self.scroll_y)), len(old) - 1)
        index = bisect_left(rows, old[top][0], key=lambda r: r[0])
        if index != top:
            self.scroll_to(y=index, animate=False, immediate=True, force=True)

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        # Textual moves the thumb only on a scroll made while the bar is shown: a log
        # that reached its end before its bar appeared showed the thumb at the top.
        if shown:
            self.vertical_scrollbar.position = self.scroll_y

    def on_resize(self) -> None:
        # A new size (or a scrollbar appearing) moves the end away from a following view.
        self._stick()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Follow while at the end. A flag, not a check of the position at the next
        # update: new rows (or a horizontal scrollbar appearing) move the end away
        # from a view that was at it.
        self.following = round(new_value) >= self.max_scroll_y

    # Keys that leave the end stop following at once: an animated scroll takes frames,
    # and a batch of events arriving meanwhile would otherwise pull the view back down.
    def _leave_end(self) -> None:
        if self.scroll_y > 0:
            self.following = False

    def action_scroll_home(self) -> None:
        self._leave_end()
        # force: right after a burst of rows, before the frame that shows the scrollbar,
        # Textual does not allow scrolling yet and Home would be dropped (the view then
        # sat at the end, no longer following).
        self.scroll_home(animate=False, immediate=True, x_axis=self.scroll_y == 0, force=True)

    def action_scroll_up(self) -> None:
        self._leave_end()
        self.scroll_up(force=True)  # force: as Home, in the frame after a burst

    def action_page_up(self) -> None:
        self._leave_end()
        self.scroll_page_up(force=True)

    def action_scroll_end(self) -> None:
        self.following = True
        self._stick()

    def clear_cache(self) -> None:
        """Forget formatted lines (after a theme change)."""
        self._cache.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width  # inside the scrollbars
        base = self.rich_style
        if index >= len(self.rows):
            text, style = self.empty
            if index == 0 and text:  # an empty log says why instead of staying blank
                line = Strip([Segment(" " + text, base + style if style else base)])
                return line.adjust_cell_length(width, base)
            return Strip.blank(width, base)
        row = self.rows[index]
        key = row[0]
        strip = self._cache.get(key)
        if strip is None:
            segments = [
                Segment(text, base + style if style is not None else base)
                for text, style in self.format_row(row)
            ]
            strip = Strip(segments)
            self._cache[key] = strip
            if strip.cell_length > self._width:
                self._width = strip.cell_length
                self.virtual_size = Size(self._width, len(self.rows))
                # The horizontal scrollbar may appear and push the last line out of view.
                self.call_after_refresh(self._stick)
        if strip.cell_length > scroll_x + width > scroll_x + 1:
            # More to the right (scroll with the arrows): say so instead of a cut that
            # can read as a value ($0.0000 for $0.000042).
            shown = strip.crop_extend(scroll_x, scroll_x + width - 1, base)
            return Strip([*shown, Segment("…", base)], width).apply_offsets(scroll_x, y)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, y)
