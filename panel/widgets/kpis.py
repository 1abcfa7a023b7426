"""Kpis: the headline numbers of the workload on one or two lines."""

from __future__ import annotations

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.state_box import StateBox, flow


class Kpis(StateBox):
    """Requests/s, runs, errors, in flight, latency, events/s, cost and savings."""

    DEFAULT_CSS = """
    Kpis { border: none; padding: 0 1; background: $boost; height: auto; }
    """

    def render_state(self, width: int) -> list[Content]:
        st = self.state
        wl = st.workload
        caches = st.group("caches").values()
        saved = sum(float((c.get("stats") or {}).get("cost_saved") or 0.0) for c in caches)
        items = [
            ("req/s", fmt.rate(st.rps), "$accent"),
            ("runs", fmt.num(wl.get("runs")), ""),
            ("errors", fmt.num(wl.get("errors")), "$error" if wl.get("errors") else ""),
            ("in flight", fmt.num(wl.get("in_flight")), ""),
            ("p50", fmt.secs(wl.get("p50")), ""),
            ("p95", fmt.secs(wl.get("p95")), ""),
            ("events/s", fmt.rate(st.eps), ""),
            # before the first data, a dash like the other figures (not "$0")
            ("cost", fmt.money(st.total_cost() if st.has_data else None), "$warning"),
            ("saved", fmt.money(saved if st.has_data else None), "$success"),
        ]
        if st.dropped_total:
            items.append(("events dropped", fmt.num(st.dropped_total), "$error"))  # resynced
        pieces = [
            Content.assemble((label + " ", "$text-muted"), (value, "bold " + style))
            for label, value, style in items
        ]
        return flow(pieces, width)
