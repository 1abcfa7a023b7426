"""View: the base of every tab's content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len as cells
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import DescendantBlur
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, DataTable, Input, Label

from flowdeck.panel.selection import Selection
from flowdeck.panel.state import PanelState
from flowdeck.panel.widgets.state_box import SelectedBox, StateBox

if TYPE_CHECKING:
    from textual.widget import Widget

    from flowdeck.panel.widgets.live_table import Cell, LiveTable


FILTER_QUIET = 0.15  # s without a key before a typed filter applies (Enter/Esc: at once)


class View(Vertical):
    """A tab's content. The app calls ``refresh_view`` on the refresh tick, only for the
    visible view, so hidden views cost nothing; ``paint`` does the view's own work.

    A view with a filter box (``filter_id``) applies what is typed there after
    ``FILTER_QUIET`` without a key, at once on Enter or on leaving the box: applying it
    re-syncs the view, which costs a full repaint, so not one per keystroke.
    """

    filter_id: ClassVar[str] = ""  # the id of its filter Input, if it has one

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: run when the app receives the key, before it forwards the next one.
        # A key reaches an Input through the Input's own queue and a plain binding ran
        # only once Escape had bubbled back up, so keys typed meanwhile went into the box.
        Binding("escape", "leave_input", "Back to the table", show=False, priority=True),
    ]

    DEFAULT_CSS = """
    View { height: 1fr; }
    View .actions { height: auto; margin-top: 0; }
    View .actions Button { margin-right: 1; }
    View .actions .hint { color: $text-muted; padding-left: 1; width: 1fr; height: auto; }
    View .filter { height: 1; }
    """

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self._painted = -1
        self._stale = False
        self._typed: str | None = None  # filter text typed but not applied yet
        self._quiet: Timer | None = None
        self.filter_quiet = FILTER_QUIET

    HINT_LINES = 3  # a key hint beside the buttons wraps up to this many lines, else hides

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_hints)

    def fit_hints(self) -> None:
        """Wrap each hint beside the action buttons into the room they leave; hide it
        when it would need more than ``HINT_LINES`` lines (a narrow terminal: the same
        words are in ``?``), instead of a hint cut off mid-sentence or one word a line."""
        for row in self.query(".actions"):
            for hint in row.query(".hint").results(Label):
                others = sum(
                    w.outer_size.width + w.styles.margin.width
                    for w in row.children
                    if w is not hint and w.display
                )
                room = row.size.width - others - 1  # the hint's left padding
                text = str(hint.content)
                lines = -(-cells(text) // room) if room > 0 else self.HINT_LINES + 1
                hint.display = not text or lines <= self.HINT_LINES

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

    def set_paused(self, paused: bool) -> None:
        """The display was paused or resumed (the view's figures stay as they are)."""

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
        """Escape in a filter / search box: apply the filter, focus the view's table (or
        nothing) now, so the next key already goes there. Elsewhere Escape is not ours
        (dialogs, back to the fleet)."""
        if not isinstance(self.screen.focused, Input):  # the binding chain holds this view
            raise SkipAction()
        self.apply_typed_filter()
        self.screen.set_focus(self.primary())

    # ---- the filter box -------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if not self.filter_id or event.input.id != self.filter_id:
            return
        self._typed = event.value
        if self._quiet is not None:
            self._quiet.stop()
        self._quiet = self.set_timer(self.filter_quiet, self.apply_typed_filter, name="filter")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter box: apply it and leave the box, as Escape does."""
        if self.filter_id and event.input.id == self.filter_id:
            self.apply_typed_filter()
            self.screen.set_focus(self.primary())

    def on_descendant_blur(self, event: DescendantBlur) -> None:
        if self.filter_id and event.widget.id == self.filter_id:
            self.apply_typed_filter()  # tab or a click elsewhere: what was typed counts

    def apply_typed_filter(self) -> None:
        """Apply the filter text typed so far, if it was not applied yet."""
        if self._quiet is not None:
            self._quiet.stop()
            self._quiet = None
        text, self._typed = self._typed, None
        if text is not None:
            self.apply_filter(text)

    def apply_filter(self, text: str) -> None:
        """Show only what matches ``text`` (views with a filter box)."""

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
    sort_reverse: ClassVar[bool] = False  # True: descending at first (newest first)
    group: ClassVar[str] = ""  # the state group its rows are ("caches", ...)

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

    def apply_filter(self, text: str) -> None:
        table = self.table
        if table is not None:
            table.filter_text = text
            self.refresh_view(force=True)

    def rows(self, colors: dict[str, str]) -> Mapping[str, Mapping[str, Cell]]:
        """The table's rows (row key -> column -> cell) from the current state."""
        raise NotImplementedError

    def on_mount(self) -> None:
        table = self.table
        if table is not None:
            table.set_sort(self.sort_column, self.sort_reverse)

    def paint(self, force: bool) -> None:
        from flowdeck.panel.palette import palette

        table = self.table
        if table is None:
            return
        if force:
            table.invalidate()
        was_empty = table.row_count == 0
        table.sync(self.rows(palette(self.app)))
        if was_empty and table.row_count:
            # The first rows: the cursor starts on the top one as shown (newest first on
            # Audit), not on whichever row arrived first and was sorted away.
            table.move_cursor(row=0, animate=False)
        hidden = table.filter_text.strip() if table.row_count == 0 else ""
        for box in self.query(SelectedBox):  # its details follow what the filter leaves
            if hidden or box.hidden_by:
                box.select(table.selected_key, hidden)
        self._post_selection()
