"""ParallelSummary: per Parallel its runs, failures, wall time and speedup."""

from __future__ import annotations

from textual.content import Content

from panel import fmt
from panel.widgets.state_box import StateBox


class ParallelSummary(StateBox):
    """One line per Parallel primitive."""

    TITLE = "Parallel groups"

    def render_state(self, width: int) -> list[Content]:
        lines = []
        for name, p in sorted(self.state.group("parallels").items()):
            st = p.get("stats") or {}
            wall = st.get("wall") or {}
            speed = st.get("speedup")
            branches = p.get("branches") or []
            lines.append(
                Content.assemble(
                    (name, "bold"),
                    (f"  {len(branches)} branches" if branches else "", "$text-muted"),
                    (f" ({p.get('fail', '?')}", "$text-muted"),
                    (f", limit {p['limit']})" if p.get("limit") else ")", "$text-muted"),
                    f"  runs {fmt.num(st.get('runs'))}",
                    ("  failed " + fmt.num(st.get("errors")), "$error" if st.get("errors") else ""),
                    (
                        "  cancelled " + fmt.num(st.get("cancelled")),
                        "$warning" if st.get("cancelled") else "",
                    ),
                    f"  wall p50 {fmt.secs(wall.get('p50'))} p95 {fmt.secs(wall.get('p95'))}",
                    (
                        "  speedup " + (f"{speed:.2f}{fmt.TIMES}" if speed else fmt.NONE),
                        "bold $accent",
                    ),
                )
            )
        return lines
