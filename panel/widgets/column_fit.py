"""Which columns a table shows at a width, and clipping the one that takes the rest.

A table view names its columns left to right, the ones it always shows, the optional
ones by priority and one *fitted* column (a provider list, a change, an error) that gets
whatever the others leave. Optional columns are added while the fitted one keeps
``room`` cells, so an 80-column terminal loses the least useful columns instead of
scrolling sideways.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len

from flowdeck.panel import fmt
from flowdeck.panel.widgets.live_table import Cell, Column

EDGE = 3
"""Cells outside the columns: the scrollbar's and the fitted column's padding."""


def need(col: Column, rows: dict[str, dict[str, Cell]], sort: str | None = None) -> int:
    """Cells ``col`` takes: its widest cell or its label (with a sort arrow when it is the
    sort column, or always when ``sort`` is None), plus padding."""
    widest = max((cell_len(r[col.key].text) for r in rows.values() if col.key in r), default=0)
    arrow = 2 if sort is None or col.key == sort else 0
    return max(widest, len(col.label) + arrow) + 2


def fit_columns(
    order: Sequence[Column],
    always: Iterable[str],
    optional: Iterable[str],
    fitted: str,
    rows: dict[str, dict[str, Cell]],
    width: int,
    room: int,
    *,
    only_if_used: Iterable[str] = (),
    sort: str | None = None,
) -> list[Column]:
    """The columns of ``order`` to show at ``width``: ``always`` and ``fitted``, then each
    of ``optional`` (in that order) while ``fitted`` keeps ``room`` cells. A column in
    ``only_if_used`` is left out while no row has text in it."""
    by_key = {c.key: c for c in order}
    chosen = {*always, fitted}
    used = sum(need(by_key[k], rows, sort) for k in chosen if k != fitted) + EDGE
    sparse = set(only_if_used)
    for key in optional:
        if key in sparse and not any(r[key].text for r in rows.values() if key in r):
            continue
        cost = need(by_key[key], rows, sort)
        if width - used - cost >= room:
            chosen.add(key)
            used += cost
    return [c for c in order if c.key in chosen]


def clip_column(rows: dict[str, dict[str, Cell]], key: str, room: int) -> None:
    """Clip column ``key`` of every row to ``room`` cells (with an ellipsis)."""
    for cells in rows.values():
        c = cells.get(key)
        if c is not None and cell_len(c.text) > room:
            cells[key] = Cell(fmt.clip(c.text, room), c.value, c.style, c.right)
