"""TitledModal: the scaffolding the input modals share (title, help line, Escape)."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Label

ResultT = TypeVar("ResultT")


class TitledModal(ModalScreen[ResultT]):
    """A modal headed by a title and a help line; Escape cancels (dismisses with None)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, help_text: str) -> None:
        super().__init__()
        self.title_text = title
        self.help_text = help_text

    def compose_heading(self) -> ComposeResult:
        """The title and help labels (plain text: they carry names and typed input)."""
        yield Label(self.title_text, classes="title", markup=False)
        yield Label(self.help_text, classes="help", markup=False)

    def action_cancel(self) -> None:
        self.dismiss(None)
