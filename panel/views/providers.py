"""Providers: per provider its state (trouble coloured), cooldown counting down with its
reason, retries, in flight, calls, errors, latency, budget, and the last error; the
tiers' budgets under it; the levers end a cooldown now or start one (drain)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label

from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.state import PanelState
from flowdeck.panel.views.base import TableView
from flowdeck.panel.views.provider_rows import (
    FITTED,
    WIDE,
    columns,
    fold_fails,
    provider_rows,
)
from flowdeck.panel.widgets.column_fit import clip_column
from flowdeck.panel.widgets.live_table import Cell, LiveTable
from flowdeck.panel.widgets.provider_detail import ProviderDetail
from flowdeck.panel.widgets.tier_budgets import TierBudgets


class ProvidersView(TableView):
    """The provider table, the selected provider's detail, and resume / drain actions."""

    BINDINGS: ClassVar[list[BindingType]] = footer_bindings(
        "resume_provider", "drain_provider", "filter"
    )

    group = "providers"
    filter_id = "provider-filter"

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(state, id=id)
        self._second = -1  # the whole second of the clock last painted (countdowns)

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter providers (/)", id="provider-filter", compact=True, classes="filter"
        )
        # The table takes the room the rest leaves (LiveTable's height: 1fr): the detail,
        # the budgets and the buttons stay on screen however many providers there are.
        yield LiveTable(columns(WIDE, {}), id="provider-table")
        yield ProviderDetail(self.state, id="provider-detail")
        yield TierBudgets(self.state, id="tier-budgets")
        with Horizontal(classes="actions"):
            yield Button(
                "End cooldown",
                action="app.resume_provider",
                compact=True,
                classes="mutating",
                id="btn-resume",
            )
            yield Button(
                "Drain…",
                action="app.drain_provider",
                compact=True,
                classes="mutating",
                id="btn-drain",
            )
            yield Label("u: end cooldown now · d: drain for a while", classes="hint")

    def refresh_view(self, force: bool = False) -> None:
        # A cooldown counts down between two stats: repaint once a second while one runs.
        second = int(self.state.clock())
        if self.state.cooldown_until and second != self._second:
            force = True
        self._second = second
        super().refresh_view(force)

    def rows(self, colors: dict[str, str]) -> dict[str, dict[str, Cell]]:
        table = self.table
        width = (table.size.width if table is not None else 0) or self.app.size.width
        rows = provider_rows(self.state, colors)
        shown = columns(width, rows, table.sort_column if table is not None else "name")
        if not any(c.key == "fails" for c in shown):
            fold_fails(rows)
        if table is not None:
            table.set_columns(shown)
            clip_column(rows, FITTED, table.fit(FITTED, width - 1, rows))
        return rows

    def paint(self, force: bool) -> None:
        super().paint(force)
        table = self.table
        if table is not None:
            self.query_one(ProviderDetail).select(table.selected_key)

    def on_resize(self) -> None:
        self.query_one(TierBudgets).fit_height(self.app.size.height)
        self.refresh_view(force=True)

    def on_mount(self) -> None:
        self.query_one(TierBudgets).fit_height(self.app.size.height)

    def on_data_table_row_highlighted(self, event: LiveTable.RowHighlighted) -> None:
        super().on_data_table_row_highlighted(event)
        self.query_one(ProviderDetail).select(event.row_key.value)
