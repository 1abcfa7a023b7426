"""TitledModal: the scaffolding every dialog shares (title, help line, Escape, style)."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Label

ResultT = TypeVar("ResultT")


class TitledModal(ModalScreen[ResultT]):
    """A centred box headed by a title and a help line; Escape cancels (None).

    The look is defined once here; a dialog changes only what differs (its width,
    the colour of a destructive one)."""

    DEFAULT_CSS = """
    TitledModal { align: center middle; }
    TitledModal > Vertical {
        width: 64; max-width: 95%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    TitledModal .title { text-style: bold; color: $primary; }
    TitledModal .help { color: $text-muted; margin-bottom: 1; width: 100%; }
    TitledModal .buttons { height: auto; align-horizontal: right; margin-top: 1; }
    TitledModal .buttons Button { margin-left: 2; }
    """
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
