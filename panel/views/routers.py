"""Routers: per route the split (actual → target when weighted), latency, errors, cost,
pin and provider mapping; pin, auto, re-map, weights and restore levers."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label

from flowdeck.panel import fmt
from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.selection import Selection
from flowdeck.panel.state import PanelState
from flowdeck.panel.views.base import TableView
from flowdeck.panel.widgets.column_fit import fit_columns
from flowdeck.panel.widgets.live_table import Cell, Column, LiveTable
from flowdeck.panel.widgets.route_split import RouteSplit

COLUMNS = [
    Column("router", "Router"),
    Column("route", "Route"),
    Column("mode", "Mode"),
    Column("share", "Split (5s)", right=True),
    Column("count", "Count", right=True),
    Column("p50", "p50", right=True),
    Column("p95", "p95", right=True),
    Column("ttft", "TTFT p50/p95", right=True),
    Column("errors", "Errors", right=True),
    Column("cost", "Cost", right=True),
    Column("budget", "Budget left", right=True),
    Column("providers", "Providers"),
]
FITTED = "providers"
"""The last column: it gets the room the others leave (a list cut to "a → b +1")."""
ALWAYS = ("route", "mode", "share")
OPTIONAL = ("router", "budget", "count", "errors", "p50", "cost", "p95", "ttft")
"""Shown by priority while the provider list keeps PROVIDERS_ROOM cells (80 columns);
the budget column only when some route's tier has a budget."""
PROVIDERS_ROOM = 18


def columns(width: int, rows: dict[str, dict[str, Cell]]) -> list[Column]:
    """The columns that fit ``width``: the essential ones, then the optional ones."""
    return fit_columns(
        COLUMNS, ALWAYS, OPTIONAL, FITTED, rows, width, PROVIDERS_ROOM, only_if_used=["budget"]
    )


def provider_list(names: list[str], room: int) -> str:
    """ "a → b → c" in ``room`` cells: as many names as fit, the rest counted ("a → b +1")."""
    for keep in range(len(names), 0, -1):
        text = " → ".join(names[:keep]) + (f" +{len(names) - keep}" if keep < len(names) else "")
        if cell_len(text) <= room or keep == 1:
            return fmt.clip(text, room)
    return ""


def route_providers(state: PanelState) -> dict[str, list[str]]:
    """Each route's providers in order (by ``router_key``), a provider that is cooling
    down (drained or failing) marked: the route skips it until then (a last resort)."""
    health = state.group("providers")

    def shown(name: str) -> str:
        cooling = (health.get(name) or {}).get("state") == "cooling down"
        return f"{name} (cooling)" if cooling else name

    return {
        router_key(router, route): [shown(p) for p in prov]
        for router, r in state.group("routers").items()
        for route, prov in (r.get("providers") or {}).items()
        if prov
    }


def router_key(router: str, route: str) -> str:
    return f"{router}\x1f{route}"


def split_key(key: str) -> tuple[str, str]:
    router, _, route = key.partition("\x1f")
    return router, route


def ttft_cell(st: dict) -> Cell:
    """Time to first delta of streamed requests, p50/p95 ("—" when nothing streamed)."""
    p50, p95 = st.get("ttft_p50"), st.get("ttft_p95")
    if p50 is None:
        return Cell("—", 0.0, right=True)
    return Cell(f"{fmt.secs(p50)}/{fmt.secs(p95)}", float(p50), right=True)


def budget_cell(b: dict | None, pal: dict[str, str]) -> Cell:
    """What is left of the route's tier budget this period (red once spent; "" without)."""
    if not b:
        return Cell("", float("inf"), right=True)
    return Cell(
        fmt.budget(b, short=True),
        float(b.get("remaining") or 0.0),
        style=f"bold {pal['error']}" if b.get("exhausted") else "",
        right=True,
    )


def route_rows(
    state: PanelState, pal: dict[str, str], marked: dict[str, list[str]]
) -> dict[str, dict[str, Cell]]:
    """Table cells, one row per (router, route); ``marked``: ``route_providers(state)``."""
    rows: dict[str, dict[str, Cell]] = {}
    budgets = state.snapshot.get("budgets") or {}
    for name, r in state.group("routers").items():
        st = r.get("stats") or {}
        routes = st.get("routes") or {}
        recent = state.recent_split(name)
        pin = r.get("pin")
        # A pin overrides the weights: their targets would contradict "● pinned".
        targets = r.get("targets") if r.get("weights") and not pin else None
        tiers = r.get("tiers") or {}
        for route in r.get("routes") or list(routes):
            rs = routes.get(route) or {}
            share = recent.get(route, 0.0) if recent is not None else rs.get("share")
            errors = int(rs.get("errors") or 0)
            prov = marked.get(router_key(name, route))
            target = (targets or {}).get(route, 0.0) if targets is not None else None
            budget = budgets.get(tiers.get(route) or "")
            if pin == route:
                mode = Cell("● pinned", style=f"bold {pal['warning']}")
            elif pin:
                mode = Cell("bypassed", style=pal["muted"])
            elif budget and budget.get("exhausted"):
                mode = Cell("over budget", style=f"bold {pal['error']}")
            elif target is not None:
                w = (r.get("weights") or {}).get(route, 0)
                mode = Cell(f"weight {w:g}") if target > 0 else Cell("drained", style=pal["muted"])
            elif route == r.get("default"):
                mode = Cell("default")
            else:
                mode = Cell("")
            rows[router_key(name, route)] = {
                "router": Cell(name, style="bold"),
                "route": Cell(route),
                "share": Cell(
                    f"{fmt.bar(share, 6)} {fmt.pct(share, 0):>4}"
                    + (f"→{fmt.pct(target, 0):>4}" if target is not None else ""),
                    share or 0.0,
                    style=pal["primary"],
                    right=True,
                ),
                "count": Cell(fmt.num(rs.get("count")), int(rs.get("count") or 0), right=True),
                "p50": Cell(fmt.secs(rs.get("p50")), rs.get("p50") or 0.0, right=True),
                "p95": Cell(fmt.secs(rs.get("p95")), rs.get("p95") or 0.0, right=True),
                "ttft": ttft_cell(rs),
                "errors": Cell(
                    fmt.num(errors), errors, style=pal["error"] if errors else "", right=True
                ),
                "cost": Cell(fmt.money(rs.get("cost")), float(rs.get("cost") or 0.0), right=True),
                "budget": budget_cell(budget, pal),
                "providers": Cell(
                    " → ".join(prov) if prov else "(not provider-backed)",
                    style="" if prov else pal["muted"],
                ),
                "mode": mode,
            }
    return rows


class RoutersView(TableView):
    """Split bars per router, the route table, and pin / auto / remap actions."""

    # o Restore is left to ? and ctrl+p: with it, 80 columns would cut "q Quit".
    BINDINGS: ClassVar[list[BindingType]] = footer_bindings("pin", "unpin", "remap", "set_weights")

    sort_column = "router"
    group = "routers"
    filter_id = "route-filter"

    def rows(self, colors: dict[str, str]) -> dict[str, dict[str, Cell]]:
        providers = route_providers(self.state)
        rows = route_rows(self.state, colors, providers)
        table = self.table
        if table is None:
            return rows
        width = table.size.width or self.app.size.width
        table.set_columns(columns(width, rows))
        room = table.fit(FITTED, width - 1, rows, least=PROVIDERS_ROOM)
        for key, cells in rows.items():
            names = providers.get(key)
            old = cells[FITTED]
            text = provider_list(names, room) if names else fmt.clip(old.text, room)
            cells[FITTED] = Cell(text, old.value, old.style, old.right)
        return rows

    def on_resize(self) -> None:
        self.refresh_view(force=True)

    DEFAULT_CSS = """
    RoutersView RouteSplit { height: auto; max-height: 40%; }
    RoutersView LiveTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield RouteSplit(self.state, id="router-split")
        yield Input(
            placeholder="filter routes (/)", id="route-filter", compact=True, classes="filter"
        )
        yield LiveTable(COLUMNS, id="route-table")
        with Horizontal(classes="actions"):
            yield Button("Pin…", action="app.pin", compact=True, classes="mutating", id="btn-pin")
            yield Button(
                "Auto", action="app.unpin", compact=True, classes="mutating", id="btn-unpin"
            )
            yield Button(
                "Remap…", action="app.remap", compact=True, classes="mutating", id="btn-remap"
            )
            yield Button(
                "Weights…",
                action="app.set_weights",
                compact=True,
                classes="mutating",
                id="btn-weights",
            )
            yield Button(
                "Restore…",
                action="app.restore_route",
                compact=True,
                classes="mutating",
                id="btn-restore",
            )
            yield Label("o: back to the configured order", classes="hint")

    def target(self, key: str) -> Selection:
        return Selection(*split_key(key))
