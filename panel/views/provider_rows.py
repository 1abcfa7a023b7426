"""The Providers table's cells: one row per provider, trouble coloured, from the state.

Kept apart from the view so the rows (and their column sets) are plain functions of the
PanelState and a width, like the other views' ``*_rows``.
"""

from __future__ import annotations

import math

from flowdeck.engine.control.schema import PROVIDER_STATES
from flowdeck.panel import fmt
from flowdeck.panel.state import PanelState
from flowdeck.panel.widgets.column_fit import need
from flowdeck.panel.widgets.live_table import Cell, Column

WIDE = 110
"""The width the table is first laid out for (before it knows its own)."""
ERROR_ROOM = 16
"""Cells the last error keeps at least before an optional column is added."""
STATE_COLOUR = {"failing": "warning", "retrying": "warning", "over budget": "warning"}

NAME = Column("name", "Provider")
STATE = Column("state", "State")
FAILS = Column("fails", "Fails", right=True)
COOLDOWN = Column("cooldown", "Cooldown")
RETRIES = Column("retries", "Retries", right=True)
IN_FLIGHT = Column("in_flight", "In flight", right=True)
CALLS = Column("calls", "Calls", right=True)
ERRORS = Column("errors", "Errors", right=True)
LATENCY = Column("latency", "p50/p95", right=True)
BUDGET = Column("budget", "Budget left", right=True)
BURN = Column("burn", "Burn", right=True)
ERROR = Column("error", "Last error")
FITTED = ERROR.key
"""The column that gets whatever room the others leave (clipped to it)."""
ORDER = [NAME, STATE, FAILS, COOLDOWN, RETRIES, IN_FLIGHT, CALLS, ERRORS, LATENCY, BUDGET, BURN]
"""The columns left to right (the last error is last)."""
ALWAYS = [NAME, STATE, COOLDOWN, CALLS, ERRORS]
OPTIONAL = [FAILS, BUDGET, LATENCY, RETRIES, IN_FLIGHT, BURN]
"""Added in this order while the last error keeps ERROR_ROOM cells."""


def columns(
    width: int, rows: dict[str, dict[str, Cell]], sort: str | None = NAME.key
) -> list[Column]:
    """The columns for a table ``width`` cells wide: the essential ones, then the optional
    ones by priority while the last error keeps its room (budget ones only if a row has a
    budget). Without the Fails column the State cells carry the count (see ``fold_fails``)."""
    chosen = {c.key for c in ALWAYS}
    used = sum(need(c, rows, sort) for c in ALWAYS) + 3  # the scrollbar's cell and the error's pad
    fold = 3  # " xN" on the State cells while Fails is not shown
    used += fold
    for col in OPTIONAL:
        if col in (BUDGET, BURN) and not any(r[col.key].text for r in rows.values()):
            continue
        cost = need(col, rows, sort) - (fold if col is FAILS else 0)
        if width - used - cost >= ERROR_ROOM:
            chosen.add(col.key)
            used += cost
        elif col is FAILS:
            break  # keep the more important columns' room for the error
    return [c for c in ORDER if c.key in chosen] + [ERROR]


def fold_fails(rows: dict[str, dict[str, Cell]]) -> None:
    """The failures in a row on the State cells ("failing x2" with fmt.TIMES), Fails hidden."""
    for cells in rows.values():
        fails, st = cells["fails"].value, cells["state"]
        if fails and st.text != "ok":
            cells["state"] = Cell(f"{st.text} {fmt.TIMES}{fails}", st.value, st.style, st.right)


def provider_rows(state: PanelState, pal: dict[str, str]) -> dict[str, dict[str, Cell]]:
    """Every provider's cells (all columns; the table shows those of its column set)."""
    rows: dict[str, dict[str, Cell]] = {}
    providers = state.group("providers")
    for name in sorted(providers):  # by name: the first paint's cursor lands on the top row
        p = providers[name]
        st = str(p.get("state") or "ok")
        rank = PROVIDER_STATES.index(st) if st in PROVIDER_STATES else 0
        fails = int(p.get("consecutive_failures") or 0)
        left = state.cooldown_left(name)
        colour = (
            "bold " + pal["error"]
            if st == "cooling down"
            else pal.get(STATE_COLOUR.get(st, ""), "")
        )
        reason = fmt.REASON.get(str(p.get("cooldown_reason")), str(p.get("cooldown_reason") or ""))
        errors = int(p.get("errors") or 0)
        budget = p.get("budget") or {}
        p50, p95 = p.get("p50"), p.get("p95")
        rows[name] = {
            "name": Cell(name, style="bold"),
            "state": Cell(st, rank, style=colour or pal["success"]),
            "fails": Cell(str(fails), fails, style=pal["warning"] if fails else "", right=True),
            "cooldown": Cell(
                f"{fmt.countdown(left)} {reason}".strip() if left > 0 else "",
                left,
                style=colour if left > 0 else "",
            ),
            "retries": Cell(fmt.num(p.get("retries")), int(p.get("retries") or 0), right=True),
            "in_flight": Cell(
                fmt.num(p.get("in_flight")), int(p.get("in_flight") or 0), right=True
            ),
            "calls": Cell(fmt.num(p.get("calls")), int(p.get("calls") or 0), right=True),
            "errors": Cell(
                fmt.num(errors), errors, style=pal["error"] if errors else "", right=True
            ),
            "latency": Cell(
                f"{fmt.secs(p50)}/{fmt.secs(p95)}" if p50 is not None else fmt.NONE,
                float(p50 or 0.0),
                right=True,
            ),
            "budget": Cell(
                fmt.budget(budget, short=True) if budget else "",
                float(budget.get("remaining") or 0.0) if budget else math.inf,
                style=pal["error"] if budget.get("exhausted") else "",
                right=True,
            ),
            "burn": Cell(
                f"{fmt.money(budget.get('burn_per_hour'))}/h" if budget else "",
                float(budget.get("burn_per_hour") or 0.0),
                right=True,
            ),
            "error": Cell(
                _unnamed(fmt.one_line(p.get("last_error")), name),
                style=pal["error"] if st != "ok" else pal["muted"],
            ),
        }
    return rows


def _unnamed(error: str, name: str) -> str:
    """An error without its leading "provider: " (the row already names it)."""
    return error.removeprefix(f"{name}: ")
