"""Routers: per route the split, latency, errors, cost, pin and provider mapping."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label

from flowdeck.panel import fmt
from flowdeck.panel.selection import Selection
from flowdeck.panel.state import PanelState
from flowdeck.panel.views.base import TableView
from flowdeck.panel.widgets.live_table import Cell, Column, LiveTable
from flowdeck.panel.widgets.route_split import RouteSplit

COLUMNS = [
    Column("router", "Router"),
    Column("route", "Route"),
    Column("share", "Split (5s)", right=True),
    Column("count", "Count", right=True),
    Column("p50", "p50", right=True),
    Column("p95", "p95", right=True),
    Column("ttft", "TTFT p50/p95", right=True),
    Column("errors", "Errors", right=True),
    Column("cost", "Cost", right=True),
    Column("providers", "Providers"),
    Column("mode", "Mode"),
]


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


def route_rows(state: PanelState, pal: dict[str, str]) -> dict[str, dict[str, Cell]]:
    """Table cells, one row per (router, route)."""
    rows: dict[str, dict[str, Cell]] = {}
    for name, r in state.group("routers").items():
        st = r.get("stats") or {}
        routes = st.get("routes") or {}
        recent = state.recent_split(name)
        pin = r.get("pin")
        providers = r.get("providers") or {}
        for route in r.get("routes") or list(routes):
            rs = routes.get(route) or {}
            share = recent.get(route, 0.0) if recent is not None else rs.get("share")
            errors = int(rs.get("errors") or 0)
            prov = providers.get(route)
            if pin == route:
                mode = Cell("● pinned", style=f"bold {pal['warning']}")
            elif pin:
                mode = Cell("bypassed", style=pal["muted"])
            elif route == r.get("default"):
                mode = Cell("default")
            else:
                mode = Cell("")
            rows[router_key(name, route)] = {
                "router": Cell(name, style="bold"),
                "route": Cell(route),
                "share": Cell(
                    f"{fmt.bar(share, 6)} {fmt.pct(share, 0):>4}",
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
                "providers": Cell(
                    " → ".join(prov) if prov else "(not provider-backed)",
                    style="" if prov else pal["muted"],
                ),
                "mode": mode,
            }
    return rows


class RoutersView(TableView):
    """Split bars per router, the route table, and pin / auto / remap actions."""

    sort_column = "router"
    group = "routers"
    filter_id = "route-filter"

    def rows(self, colors: dict[str, str]) -> dict[str, dict[str, Cell]]:
        return route_rows(self.state, colors)

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
            yield Label(
                "pin sends every request to one route; auto returns to the selector", classes="hint"
            )

    def target(self, key: str) -> Selection:
        return Selection(*split_key(key))
