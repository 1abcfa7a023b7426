"""ParallelSummary: per Parallel its runs, failures, wall time and speedup."""

from __future__ import annotations

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.widgets.state_box import StateBox, flow


class ParallelSummary(StateBox):
    """One line per Parallel primitive."""

    TITLE = "Parallel groups"
    EMPTY = "no Parallel groups registered in this engine"

    def render_state(self, width: int) -> list[Content]:
        lines: list[Content] = []
        for name, p in sorted(self.state.group("parallels").items()):
            st = p.get("stats") or {}
            wall = st.get("wall") or {}
            speed = st.get("speedup")
            branches = p.get("branches") or []
            limit = f", limit {p['limit']}" if p.get("limit") else ""
            errors, cancelled = st.get("errors") or 0, st.get("cancelled") or 0
            pieces = [
                Content.assemble(
                    (name, "bold"),
                    (f" {len(branches)} branches ({p.get('fail', '?')}{limit})", "$text-muted"),
                ),
                Content(f"runs {fmt.num(st.get('runs'))}"),
                Content.styled(f"failed {fmt.num(errors)}", "$error" if errors else ""),
                Content.styled(f"cancelled {fmt.num(cancelled)}", "$warning" if cancelled else ""),
                *_stopped(st.get("branches_cancelled") or 0),
                Content(f"wall p50 {fmt.secs(wall.get('p50'))} p95 {fmt.secs(wall.get('p95'))}"),
                Content.styled(
                    "speedup " + (f"{speed:.2f}{fmt.TIMES}" if speed else fmt.NONE), "bold $accent"
                ),
            ]
            lines.extend(flow(pieces, width, gap="  ", indent="  "))
        return lines


def _stopped(branches: int) -> list[Content]:
    """Branches the gantt marks cancelled (fail-fast siblings too), when there are any."""
    if not branches:
        return []
    return [Content.styled(f"branches cancelled {fmt.num(branches)}", "$warning")]
