"""HelpModal: every key of the panel, grouped."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from flowdeck.panel.keys import KEYS, TABLE_KEYS


def help_content(read_only: bool = False) -> Content:
    """The help text: one line per key, grouped (General, Views, Actions, Tables)."""
    lines: list[Content] = []
    groups: dict[str, list[tuple[str, str, bool]]] = {}
    for k in KEYS:
        groups.setdefault(k.group, []).append((k.display, k.description, k.mutating))
    groups["Tables and dialogs"] = [(a, b, False) for a, b in TABLE_KEYS]
    for group, rows in groups.items():
        if lines:
            lines.append(Content(""))
        lines.append(Content.styled(group, "bold $primary"))
        for keys, desc, mutating in rows:
            extra = ("  (unavailable: read-only)", "$warning") if read_only and mutating else ""
            lines.append(Content.assemble("  ", (f"{keys:<16}", "bold $accent"), desc, extra))
    lines.append(Content(""))
    lines.append(
        Content.styled(
            "Actions apply to the row selected in the Caches / Routers / Providers / Memory tables "
            "(the first one if none is selected); every action is also in ctrl+p.",
            "$text-muted",
        )
    )
    return Content("\n").join(lines)


class HelpModal(ModalScreen[None]):
    """Shows :func:`help_content`; any of escape, q, ? closes it."""

    DEFAULT_CSS = """
    HelpModal { align: center middle; }
    HelpModal > VerticalScroll {
        width: 84; max-width: 98%; height: auto; max-height: 95%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, read_only: bool = False) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll() as vs:
            vs.border_title = "Keys"
            yield Static(help_content(self.read_only))

    def action_close(self) -> None:
        self.dismiss(None)
