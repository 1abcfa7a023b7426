"""RouteSplit: how each router divides traffic between its routes, as bars."""

from __future__ import annotations

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.state_box import StateBox


class RouteSplit(StateBox):
    """Per router a header (pin / auto) and one bar per route with its share.

    The bar is the split over the last 5 seconds (so a pin shows at once); the
    lifetime share follows in brackets, as the header says when there is room.
    """

    TITLE = "Routing split"
    EMPTY = "no routers registered in this engine"

    def render_state(self, width: int) -> list[Content]:
        routers = self.state.group("routers")
        lines: list[Content] = []
        for name, r in sorted(routers.items()):
            st = r.get("stats") or {}
            routes = st.get("routes") or {}
            pin = r.get("pin")
            weights = r.get("weights")
            if pin:
                mode = ("pinned → " + str(pin), "bold $warning")
            elif weights:
                split = "/".join(f"{w:g}" for w in weights.values())
                mode = (f"weighted {split}" + (" sticky" if r.get("sticky") else ""), "$success")
            else:
                mode = ("auto", "$success")
            head = Content.assemble(
                (name, "bold"),
                "  ",
                mode,
                ("  total " + fmt.num(st.get("total")), "$text-muted"),
            )
            trouble = Content.styled(trouble_text(st), "$warning")
            if trouble.cell_length and head.cell_length + 2 + trouble.cell_length <= width:
                head, trouble = Content.assemble(head, "  ", trouble), Content("")
            # what the two numbers of each route are; shorter where 80 columns cut it
            for hint in ("  · last 5s (all time)", " · 5s (all)"):
                if head.cell_length + len(hint) <= width:
                    head = Content.assemble(head, (hint, "$text-muted"))
                    break
            lines.append(head)
            if trouble.cell_length:  # no room beside the header: a line of its own
                lines.append(Content.assemble("  ", trouble))
            recent = self.state.recent_split(name)
            route_names = list(r.get("routes") or routes)
            if not route_names:
                continue
            rw = min(12, max(fmt.cells(x) for x in route_names))
            bar_w = max(4, width - rw - 22)
            for route in route_names:
                life = (routes.get(route) or {}).get("share")
                share = recent.get(route, 0.0) if recent is not None else life
                style = "$warning" if pin == route else "$primary"
                lines.append(
                    Content.assemble(
                        "  ",
                        (fmt.fit(route, rw), "bold" if pin == route else ""),
                        " ",
                        (fmt.bar(share, bar_w), style),
                        (" " + fmt.pct(share, 0).rjust(4), "bold"),
                        (f" ({fmt.pct(life, 0)})".ljust(8), "$text-muted"),
                    )
                )
        return lines


def trouble_text(st: dict) -> str:
    """ "unknown 2 · fell back: cooldown 12, budget 1 · last resort 1" (only what happened):
    selections that were not a route, and requests sent to another route, by reason."""
    parts = []
    if st.get("unknown"):
        parts.append(f"unknown {fmt.num(st['unknown'])}")
    falls = {k: v for k, v in (st.get("fallbacks") or {}).items() if v}
    if falls:
        parts.append("fell back: " + ", ".join(f"{k} {fmt.num(v)}" for k, v in falls.items()))
    if st.get("last_resort"):
        parts.append(f"last resort {fmt.num(st['last_resort'])}")
    return " · ".join(parts)
