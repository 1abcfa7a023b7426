"""ConfirmModal: a yes/no question before something that cannot be undone."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from flowdeck.panel.modals.base import TitledModal


class ConfirmModal(TitledModal[bool | None]):
    """``y`` / Enter on the confirm button: True; ``n``, Escape, Cancel: False / None."""

    DEFAULT_CSS = """
    ConfirmModal > Vertical { width: 60; border: thick $error; }
    ConfirmModal .title { color: $error; }
    ConfirmModal .help { color: $foreground; margin: 1 0 0 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
    ]

    def __init__(self, title: str, message: str, confirm_label: str = "Yes") -> None:
        super().__init__(title, message)
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield from self.compose_heading()
            with Horizontal(classes="buttons"):
                yield Button("Cancel (n / esc)", id="no")
                yield Button(f"{self.confirm_label} (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
