"""NumberModal: a validated input (TTL seconds, max size, a drain's length, route weights)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label

from flowdeck.panel.modals.base import TitledModal


class NumberModal(TitledModal[Any]):
    """Ask for a value; ``parse`` turns text into the value or raises ValueError.

    The problem is shown under the field and the modal stays open until the input is
    valid or the operator cancels (Escape), which dismisses with None.
    """

    DEFAULT_CSS = """
    NumberModal #error {
        color: $error; text-style: bold; width: 100%; height: auto; min-height: 1;
    }
    """

    def __init__(
        self, title: str, help_text: str, parse: Callable[[str], Any], current: str = ""
    ) -> None:
        super().__init__(title, help_text)
        self.parse = parse
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield from self.compose_heading()
            yield Input(value=self.current, id="value", select_on_focus=True)
            yield Label("", id="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Apply (enter)", id="apply", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _submit(self) -> None:
        text = self.query_one(Input).value
        try:
            value = self.parse(text)
        except ValueError as exc:
            self.query_one("#error", Label).update(f"✖ {exc}")
            self.query_one(Input).focus()
            return
        self.dismiss(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#error", Label).update("")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self._submit()
        else:
            self.dismiss(None)
