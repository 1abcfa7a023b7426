"""View: the base of every tab's content."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input

from flowdeck.panel.selection import Selection
from flowdeck.panel.state import PanelState
from flowdeck.panel.widgets.state_box import StateBox

if TYPE_CHECKING:
    from textual.widget import Widget

    from flowdeck.panel.widgets.live_table import Cell, LiveTable


class View(Vertical):
    """A tab's content. The app calls ``refresh_view`` on the refresh tick, only for the
    visible view, so hidden views cost nothing; ``paint`` does the view's own work."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave_input", "Back to the table", show=False),
    ]

    DEFAULT_CSS = """
    View { height: 1fr; }
    View .actions { height: 1; margin-top: 0; }
    View .actions Button { margin-right: 1; }
    View .actions .hint { color: $text-muted; padding-left: 1; width: 1fr; }
    View .filter { height: 1; }
    """

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self._painted = -1
        self._stale = False

    def invalidate(self) -> None:
        """Repaint everything at the next refresh (e.g. after a theme change)."""
        self._stale = True

    def refresh_view(self, force: bool = False) -> None:
        force = force or self._stale
        if not force and self._painted == self.state.version:
            return
        self._stale = False
        self._painted = self.state.version
        for box in self.query(StateBox):
            box.update_from_state(force)
        self.paint(force)

    def paint(self, force: bool) -> None:
        """Extra per-view painting (tables); the StateBoxes are already updated."""

    def set_read_only(self, read_only: bool) -> None:
        """Disable the buttons that would change the engine."""
        for button in self.query(Button).filter(".mutating"):
            button.disabled = read_only
            button.tooltip = "unavailable: read-only" if read_only else None

    @property
    def table(self) -> LiveTable | None:
        """The view's main table, if it has one (for sort keys and selection)."""
        from flowdeck.panel.widgets.live_table import LiveTable

        tables = self.query(LiveTable)
        return tables.first() if tables else None

    def primary(self) -> Widget | None:
        """The widget that gets the focus when the view is shown (its table by default),
        so the arrow keys, page keys and s / S act on it at once."""
        return self.table

    def action_leave_input(self) -> None:
        """Escape in a filter / search box: focus the view's table (or nothing)."""
        target = self.primary()
        if target is not None:
            target.focus()
        else:
            self.screen.set_focus(None)

    def focus_filter(self) -> bool:
        """Focus the view's filter or search box; False if it has none."""
        inputs = self.query(Input)
        if not inputs:
            return False
        inputs.first().focus()
        return True


class TableView(View):
    """A view built around one LiveTable: sorted by ``sort_column`` at first, its rows
    produced by ``rows`` from the state model and synced in place on every paint.

    It tells the app what it shows selected with a ``Selected`` message whenever that
    changes (cursor moved, the filter changed, rows came or went), so the actions act
    on a row the operator can see, never on one a filter hides.
    """

    sort_column: ClassVar[str] = "name"
    group: ClassVar[str] = ""  # the state group its rows are ("caches", ...)
    filter_id: ClassVar[str] = ""  # the id of its filter Input, if it has one

    class Selected(Message):
        """The view's visible selection changed (``group`` names the state group)."""

        def __init__(self, group: str, selection: Selection) -> None:
            super().__init__()
            self.group = group
            self.selection = selection

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(state, id=id)
        self._posted: Selection | None = None

    def target(self, key: str) -> Selection:
        """The selection a row key stands for (a router row: router and route)."""
        return Selection(key)

    @property
    def selection(self) -> Selection:
        """The visible selected row, with the filter text (no row: name None)."""
        table = self.table
        if table is None:
            return Selection(None)
        key = table.selected_key
        base = self.target(key) if key is not None else Selection(None)
        return Selection(base.name, base.detail, table.filter_text.strip())

    def _post_selection(self) -> None:
        sel = self.selection
        if sel != self._posted:
            self._posted = sel
            self.post_message(self.Selected(self.group, sel))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._post_selection()

    def on_input_changed(self, event: Input.Changed) -> None:
        table = self.table
        if table is not None and self.filter_id and event.input.id == self.filter_id:
            table.filter_text = event.value
            self.refresh_view(force=True)

    def rows(self, colors: dict[str, str]) -> dict[str, dict[str, Cell]]:
        """The table's rows (row key -> column -> cell) from the current state."""
        raise NotImplementedError

    def on_mount(self) -> None:
        table = self.table
        if table is not None:
            table.set_sort(self.sort_column)

    def paint(self, force: bool) -> None:
        from flowdeck.panel.palette import palette

        table = self.table
        if table is None:
            return
        if force:
            table.invalidate()
        table.sync(self.rows(palette(self.app)))
        self._post_selection()
