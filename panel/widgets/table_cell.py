"""Cell: what one table cell shows, the value it sorts by and its style."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from flowdeck.panel import fmt


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: what is shown, the value it sorts by, and its style."""

    text: str
    value: Any = None
    style: str = ""
    right: bool = False

    def __rich__(self) -> Text:
        return Text(
            self.text,
            style=self.style,
            justify="right" if self.right else "left",
            no_wrap=True,
            end="",
            overflow="ellipsis",
        )

    def sort_key(self) -> tuple[int, float, str]:
        """Numbers by value, then text A to Z, then NaN: one column may hold both (the
        Fleet totals' "size / split" has sizes and routers' splits) and never compares
        a number with a str."""
        v = self.text.lower() if self.value is None else self.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            return (1, 0.0, str(v))
        if math.isnan(v):
            return (2, 0.0, "")
        return (0, v, "")

    def clipped(self, width: int) -> Cell:
        """This cell cut to ``width`` cells with an ellipsis (it sorts as before)."""
        if fmt.cells(self.text) <= width:
            return self
        value = self.text.lower() if self.value is None else self.value
        return Cell(fmt.clip(self.text, width), value, self.style, self.right)
