"""StateBox: a bordered panel that renders itself from the PanelState."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from panel.state import PanelState


class StateBox(Widget):
    """Base for the text panels: ``render_state(width)`` returns the content lines.

    The panel repaints only when ``update_from_state`` is called (by the visible view on
    the refresh tick) and only if the model changed since its last paint.
    """

    DEFAULT_CSS = """
    StateBox {
        border: round $panel-lighten-2;
        border-title-color: $primary;
        border-title-style: bold;
        padding: 0 1;
        height: auto;
        overflow-y: auto;
    }
    """
    TITLE = ""

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self._painted = -1
        self.border_title = self.TITLE

    def update_from_state(self, force: bool = False) -> None:
        if force or self._painted != self.state.version:
            self._painted = self.state.version
            self.refresh(layout=True)

    def render(self) -> Content:
        width = max(10, self.content_region.width or self.size.width)
        lines = self.render_state(width)
        if not lines:
            return Content.styled("no data yet", "$text-muted")
        return Content("\n").join(
            line.truncate(width, ellipsis=True) if line.cell_length > width else line
            for line in lines
        )

    def render_state(self, width: int) -> list[Content]:
        raise NotImplementedError
