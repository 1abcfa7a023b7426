"""PickModal: choose one option from a list (route pin, provider remap)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, OptionList
from textual.widgets.option_list import Option

from flowdeck.panel.modals.base import TitledModal


class EndStopOptionList(OptionList):
    """An option list whose cursor stops at the first and last options: held down, it
    must not wrap from the last route to "auto" (a different action) without a sign."""

    def action_cursor_down(self) -> None:
        if self.highlighted is None or self.highlighted < self.option_count - 1:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.highlighted is None or self.highlighted > 0:
            super().action_cursor_up()


class PickModal(TitledModal[str | None]):
    """A titled option list; Enter or a click picks, Escape or Cancel cancels (None)."""

    DEFAULT_CSS = """
    PickModal > Vertical { width: 70; }
    PickModal OptionList { height: auto; max-height: 16; }
    """

    def __init__(
        self,
        title: str,
        help_text: str,
        options: list[tuple[str, str]],
        current: str | None = None,
    ) -> None:
        """``options`` are ``(id, label)`` pairs; ``current`` is highlighted first."""
        super().__init__(title, help_text)
        self.options = options
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield from self.compose_heading()
            yield EndStopOptionList(
                *[Option(Content(label), id=oid) for oid, label in self.options]
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ids = [oid for oid, _ in self.options]
        ol.highlighted = ids.index(self.current) if self.current in ids else 0
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)
