"""TierBudgets: every tier's USD budget (left, spent, burn, reset); hidden without one.

Provider budgets show on their provider's row and detail; a tier's budget belongs to
no provider, so it gets this box under the provider detail in the Providers view. One
line per tier, the most telling pieces first (what is left, exhausted, requests sent
elsewhere, reset, burn, spent) as far as they fit; on a short terminal (under
``TALL`` rows) the box drops its border so the view's buttons keep their line.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.provider_detail import budget_facts
from flowdeck.panel.widgets.state_box import StateBox

TALL = 32
"""Terminal rows from which the box has its border (80x24 has no room for two more)."""


def tier_budgets(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The budgets of tiers, by name (provider budgets left out)."""
    budgets = snapshot.get("budgets") or {}
    return {
        name: b
        for name, b in sorted(budgets.items())
        if isinstance(b, dict) and b.get("scope") == "tier"
    }


def tier_line(name: str, b: dict[str, Any], width: int, label: bool) -> Content:
    """``quality $0 of $2.00/h left · exhausted · sent elsewhere 41 · resets in 21m``:
    pieces after the first only while they fit ``width``."""
    head = Content.assemble(
        ("tier " if label else "", "$text-muted"), (name, "bold"), " ", fmt.budget(b), " left"
    )
    more = budget_facts(b)
    line = head
    for piece in more:
        if line.cell_length + 3 + piece.cell_length > width:
            break
        line = line + " · " + piece
    return line


class TierBudgets(StateBox):
    """One line per tier budget; ``display`` follows whether there is any."""

    TITLE = "Tier budgets"
    EMPTY = "no tier budgets"
    DEFAULT_CSS = """
    TierBudgets { height: auto; max-height: 8; }
    TierBudgets.-short { border: none; padding: 0 1; max-height: 3; }
    """

    def fit_height(self, rows: int) -> None:
        """Drop the border on a terminal of fewer than ``TALL`` rows (its view calls this
        on every resize: a height change alone does not resize this box)."""
        if self.has_class("-short") != (rows < TALL):
            self.set_class(rows < TALL, "-short")
            self.update_from_state(force=True)

    def update_from_state(self, force: bool = False) -> None:
        # Shown only while some tier has a budget (decided here, not while rendering).
        self.display = bool(tier_budgets(self.state.snapshot))
        super().update_from_state(force)

    def render_state(self, width: int) -> list[Content]:
        budgets = tier_budgets(self.state.snapshot)
        short = self.has_class("-short")
        return [tier_line(name, b, width, short) for name, b in budgets.items()]
