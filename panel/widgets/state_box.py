"""StateBox: a bordered panel that renders itself from the PanelState."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widget import Widget

from flowdeck.panel.state import PanelState


class StateBox(Widget):
    """Base for the text panels: ``render_state(width)`` returns the content lines.

    ``update_from_state`` (called by the visible view on the refresh tick) rebuilds the
    content only if the model changed, and repaints only if the content changed; a new
    layout is requested only when the number of lines changed. A resize rebuilds the
    content for the new width.
    """

    DEFAULT_CSS = """
    StateBox {
        border: round $box-border;
        border-title-color: $primary;
        border-title-style: bold;
        padding: 0 1;
        height: auto;
        overflow-y: auto;
    }
    """
    TITLE = ""
    EMPTY = "nothing to show"

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self._painted = -1
        self._content: Content | None = None
        self._built_size = (-1, -1)
        self._lines = 0
        self.border_title = self.TITLE

    def _width(self) -> int:
        return max(10, self.content_region.width or self.size.width)

    def _build(self, width: int) -> Content:
        lines = self.render_state(width)
        self._built_size = (width, self.content_region.height)
        if not lines:
            lines = [Content.styled(self.empty_text(), "$text-muted")]
        self._lines = len(lines)
        room = self._room()
        if room is not None and len(lines) > room:  # say what does not fit, never drop it
            keep = room - 1
            lines = [*lines[:keep], Content.styled(more_text(len(lines) - keep), "$text-muted")]
        return Content("\n").join(
            line.truncate(width, ellipsis=True) if line.cell_length > width else line
            for line in lines
        )

    @property
    def lines_wanted(self) -> int:
        """The content lines the box would show given the room (its last build)."""
        return self._lines

    def _room(self) -> int | None:
        """The lines a box of set height (1fr, a percentage, cells) has; None when its
        height follows its content (auto), so that it can still grow."""
        height = self.styles.height
        if height is None or height.is_auto:
            return None
        return self.content_region.height or None

    def empty_text(self) -> str:
        """What the box says when ``render_state`` has nothing to show."""
        return self.EMPTY if self.state.has_data else "waiting for the engine…"

    def update_from_state(self, force: bool = False) -> None:
        if not force and self._painted == self.state.version:
            return
        self._painted = self.state.version
        old_lines = self._lines
        content = self._build(self._width())
        if not force and self._content is not None and content.is_same(self._content):
            return
        self._content = content
        self.refresh(layout=self._lines != old_lines)

    def render(self) -> Content:
        width = self._width()
        if self._content is None or (width, self.content_region.height) != self._built_size:
            self._content = self._build(width)
        return self._content

    def render_state(self, width: int) -> list[Content]:
        raise NotImplementedError


class SelectedBox(StateBox):
    """A StateBox about the row selected in its view's table: ``GROUP`` names the
    snapshot group; ``select(name)`` follows the table, and ``selected()`` gives the name
    and entry to render (the first by name until a row is selected)."""

    GROUP = ""
    name: str | None = None
    hidden_by: str = ""  # a filter that hides every row of the table: nothing selected

    def select(self, name: str | None, hidden_by: str = "") -> None:
        if name != self.name or hidden_by != self.hidden_by:
            self.name = name
            self.hidden_by = hidden_by
            if hidden_by:  # the subclass's render_state titles the box with what it shows
                self.border_title = self.TITLE
            self.update_from_state(force=True)

    def selected(self) -> tuple[str, dict[str, Any]] | None:
        if self.hidden_by:
            return None
        entries = self.state.group(self.GROUP)
        name = self.name if self.name in entries else min(entries, default=None)
        return None if name is None else (name, entries[name])

    def empty_text(self) -> str:
        if self.hidden_by:  # the table is empty because of the filter, not the engine
            return f"no {self.GROUP} match the filter {self.hidden_by!r}"
        return super().empty_text()


def flow(pieces: list[Content], width: int, gap: str = "   ", indent: str = "") -> list[Content]:
    """Lay ``pieces`` out left to right, starting a new line when the next would not fit."""
    lines: list[Content] = []
    line = Content("")
    for piece in pieces:
        if line.cell_length and line.cell_length + len(gap) + piece.cell_length > width:
            lines.append(line)
            line = Content(indent)
        sep = gap if line.cell_length > len(indent) or (line.cell_length and not indent) else ""
        line = line + sep + piece
    if line.cell_length:
        lines.append(line)
    return lines


def more_text(hidden: int) -> str:
    """The last line of a box with more lines than room."""
    return f"+{hidden} more line{'s' if hidden != 1 else ''}: a taller terminal shows them"
