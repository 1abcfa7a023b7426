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
            mode = ("pinned → " + str(pin), "bold $warning") if pin else ("auto", "$success")
            head = Content.assemble(
                (name, "bold"),
                "  ",
                mode,
                ("  total " + fmt.num(st.get("total")), "$text-muted"),
            )
            hint = "  · last 5s (all time)"  # what the two numbers of each route are
            if head.cell_length + len(hint) <= width:
                head = Content.assemble(head, (hint, "$text-muted"))
            lines.append(head)
            recent = self.state.recent_split(name)
            route_names = list(r.get("routes") or routes)
            if not route_names:
                continue
            rw = min(12, max(len(x) for x in route_names))
            bar_w = max(4, width - rw - 22)
            for route in route_names:
                life = (routes.get(route) or {}).get("share")
                share = recent.get(route, 0.0) if recent is not None else life
                style = "$warning" if pin == route else "$primary"
                lines.append(
                    Content.assemble(
                        "  ",
                        (fmt.clip(route, rw).ljust(rw), "bold" if pin == route else ""),
                        " ",
                        (fmt.bar(share, bar_w), style),
                        (" " + fmt.pct(share, 0).rjust(4), "bold"),
                        (f" ({fmt.pct(life, 0)})".ljust(8), "$text-muted"),
                    )
                )
        return lines
