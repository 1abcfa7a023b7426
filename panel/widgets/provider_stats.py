"""ProviderStats: latency (p50/p95), time to first delta, calls, errors and cost per provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.state_box import StateBox

NAME_MIN = 8  # cells a provider name keeps before any number column goes


@dataclass(frozen=True)
class NumColumn:
    """A right-aligned number column: its header, width in cells and the value shown."""

    key: str
    header: str
    width: int
    value: Callable[[dict[str, Any]], str]


COLUMNS = (
    NumColumn("p50", "p50", 6, lambda p: fmt.secs(p.get("p50"))),
    NumColumn("p95", "p95", 6, lambda p: fmt.secs(p.get("p95"))),
    NumColumn("ttft", "ttft", 6, lambda p: fmt.secs(p.get("ttft_p50"))),
    NumColumn("calls", "calls", 6, lambda p: fmt.num(p.get("calls"))),
    NumColumn("err", "err", 4, lambda p: fmt.num(int(p.get("errors") or 0))),
    # a provider never called has no cost yet, like its latencies (a dash, not "$0")
    NumColumn("cost", "cost", 7, lambda p: fmt.money(p.get("cost") if p.get("calls") else None)),
)
DROP_FIRST = ("calls", "ttft", "p95", "cost", "err")
"""The order columns leave a narrow box in: what an operator can do without first
(calls are in the caches and routers views; p50 and the name always stay)."""


def fit_columns(names: list[str], width: int, streamed: bool) -> tuple[int, list[NumColumn]]:
    """The name width and the whole columns that fit ``width`` cells: columns are dropped
    in ``DROP_FIRST`` order rather than cut, so no header ends in "…" mid-word."""
    nw = min(14, max((fmt.cells(n) for n in names), default=4))
    cols = [c for c in COLUMNS if streamed or c.key != "ttft"]

    def need(name_w: int) -> int:
        return name_w + sum(c.width + 1 for c in cols)

    for key in DROP_FIRST:
        if need(nw) <= width:
            break
        if need(min(nw, NAME_MIN)) <= width:  # a shorter name before another column
            break
        cols = [c for c in cols if c.key != key]
    nw = max(4, min(nw, width - need(0)))
    return nw, cols


class ProviderStats(StateBox):
    """One line per provider; cooling-down providers are flagged."""

    TITLE = "Providers"
    EMPTY = "no providers configured"

    def render_state(self, width: int) -> list[Content]:
        providers = self.state.group("providers")
        if not providers:
            return []
        streamed = any(p.get("ttft_p50") is not None for p in providers.values())
        nw, cols = fit_columns(list(providers), width, streamed)
        header = " " * nw + "".join(f" {c.header:>{c.width}}" for c in cols)
        # Latency bars when there is room: solid to p50, shaded to p95, on one scale.
        bar_w = width - len(header) - 2
        top = max((float(p.get("p95") or 0.0) for p in providers.values()), default=0.0)
        if bar_w >= 8 and top > 0:
            header += "  " + "latency".ljust(bar_w)[:bar_w]
        else:
            bar_w = 0
        lines = [Content.styled(header, "$text-muted")]
        for name, p in sorted(providers.items()):
            errors = int(p.get("errors") or 0)
            styles = {"err": "$error" if errors else "", "cost": "$warning"}
            row = Content.assemble(
                (fmt.fit(name, nw), "bold"),
                *((f" {c.value(p):>{c.width}}", styles.get(c.key, "")) for c in cols),
            )
            if p.get("cooldown_remaining"):
                flag = Content.styled(
                    f" cooling {fmt.secs(p['cooldown_remaining'])}", "bold $error"
                )
                if row.cell_length + flag.cell_length > width:
                    # no room beside the figures (80 columns): the cooldown matters more
                    row = Content.styled(fmt.fit(name, nw), "bold")
                row = row + flag
            elif bar_w:
                p50 = round(float(p.get("p50") or 0.0) / top * bar_w)
                p95 = max(p50, round(float(p.get("p95") or 0.0) / top * bar_w))
                row = row + Content.assemble(
                    "  ", ("█" * p50, "$primary"), ("░" * (p95 - p50), "$primary")
                )
            lines.append(row)
        return lines
