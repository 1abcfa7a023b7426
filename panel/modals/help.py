"""HelpModal: every key of the panel, grouped."""

from __future__ import annotations

import textwrap
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from flowdeck.panel.keys import EVERYWHERE, FLEET_KEYS, KEYS, TABLE_KEYS

KEY_CELLS = 19  # the key column; descriptions wrap under themselves, never under it
WIDTH = 84  # the dialog's width where the terminal has room
READ_ONLY = "(unavailable: read-only)"


def help_content(read_only: bool = False, width: int = WIDTH - 6, fleet: bool = False) -> Content:
    """The help text in ``width`` cells: one entry per key, grouped (General, Views,
    Actions, Tables, Fleet view), a long description wrapped under its own column.
    ``fleet``: opened over the Fleet view, only the keys that act there."""
    lines: list[Content] = []
    groups: dict[str, list[tuple[str, str, bool]]] = {}
    for k in KEYS:
        if fleet and k.action not in EVERYWHERE:
            continue
        groups.setdefault(k.group, []).append((k.display, k.description, k.mutating))
    if not fleet:
        groups["Tables and dialogs"] = [(a, b, False) for a, b in TABLE_KEYS]
    groups["Fleet view (0)"] = [(a, b, False) for a, b in FLEET_KEYS]
    room = max(len(READ_ONLY), width - 2 - KEY_CELLS)
    indent = " " * (2 + KEY_CELLS)
    for group, rows in groups.items():
        if lines:
            lines.append(Content(""))
        lines.append(Content.styled(group, "bold $primary"))
        for keys, desc, mutating in rows:
            wrapped = textwrap.wrap(desc, room) or [""]
            extra = read_only and mutating
            if extra and len(wrapped[-1]) + 2 + len(READ_ONLY) > room:
                wrapped.append("")
            for i, text in enumerate(wrapped):
                lead = ("  ", (f"{keys:<{KEY_CELLS}}", "bold $accent")) if i == 0 else (indent,)
                tail = (("  " if text else "") + READ_ONLY, "$warning")
                last = extra and i == len(wrapped) - 1
                lines.append(Content.assemble(*lead, text, *((tail,) if last else ())))
    lines.append(Content(""))
    note = (
        "Actions apply to the highlighted totals row, on every engine that has it, after "
        "a confirmation; the engine views' keys are theirs: open an engine to use them."
        if fleet
        else "Actions apply to the row selected in the Caches / Routers / Providers / "
        "Memory tables (the first one if none is selected); every action is also in ctrl+p."
    )
    lines.extend(Content.styled(line, "$text-muted") for line in textwrap.wrap(note, width))
    return Content("\n").join(lines)


class HelpModal(ModalScreen[None]):
    """Shows :func:`help_content`; any of escape, q, ? closes it."""

    DEFAULT_CSS = f"""
    HelpModal {{ align: center middle; }}
    HelpModal > VerticalScroll {{
        width: {WIDTH}; max-width: 98%; height: auto; max-height: 95%;
        border: thick $primary; background: $surface; padding: 0 1;
    }}
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, read_only: bool = False, fleet: bool = False) -> None:
        super().__init__()
        self.read_only = read_only
        self.fleet = fleet  # opened over the Fleet view: its keys only

    def compose(self) -> ComposeResult:
        with VerticalScroll() as vs:
            vs.border_title = "Keys"
            vs.border_subtitle = "↑ ↓ PgUp PgDn scroll · esc closes"  # it is longer than 24 rows
            text = help_content(self.read_only, self._text_cells(), self.fleet)
            yield Static(text, id="help-text")

    def _text_cells(self) -> int:
        """The cells a line has: the dialog (98% of a narrow terminal), less its border,
        padding and the scrollbar."""
        return min(WIDTH, int(self.app.size.width * 0.98)) - 6

    def on_resize(self, _event: events.Resize) -> None:
        self.query_one("#help-text", Static).update(
            help_content(self.read_only, self._text_cells(), self.fleet)
        )

    def action_close(self) -> None:
        self.dismiss(None)
