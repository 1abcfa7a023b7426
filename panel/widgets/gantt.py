"""Gantt: recent parallel runs, one row per branch, bars proportional to time."""

from __future__ import annotations

from textual.content import Content

from flowdeck.panel import fmt
from flowdeck.panel.state import PanelState, Run
from flowdeck.panel.widgets.state_box import StateBox

_STATUS = {
    "ok": ("█", "$success", "ok"),
    "error": ("▓", "$error", "✗ failed"),
    "cancelled": ("░", "$warning", "⊘ cancelled"),
}


def run_lines(run: Run, width: int, label_w: int = 12) -> list[Content]:
    """The lines of one run: a header, then a bar per branch on a shared time axis."""
    speed = f"{run.speedup:.1f}{fmt.TIMES}" if run.speedup else fmt.NONE
    status_style = {"ok": "$success", "error": "$error"}.get(run.status, "$warning")
    head = f"{run.parallel} #{run.run_id}  {run.status}"
    # Whole items or none ("speedup 1…" says nothing), kept by importance (the bars
    # below show the wall time too), shown in their usual order.
    items = [f"wall {fmt.secs(run.wall)}", f"speedup {speed}", f"{len(run.branches)} branches"]
    room, kept = width - fmt.cells(head), set()
    for i in (1, 0, 2):
        if 2 + fmt.cells(items[i]) <= room:
            room -= 2 + fmt.cells(items[i])
            kept.add(i)
    extra = "".join("  " + item for i, item in enumerate(items) if i in kept)
    lines = [
        Content.assemble(
            (f"{run.parallel} #{run.run_id}", "bold"),
            "  ",
            (run.status, "bold " + status_style),
            (extra, "$text-muted"),
        )
    ]
    tail_w = 20
    bar_w = max(6, width - label_w - tail_w - 3)
    wall = run.wall if run.wall > 0 else max((e for _, _, e, _ in run.branches), default=1.0)
    wall = wall or 1.0
    for name, start, end, status in run.branches:
        ch, style, label = _STATUS.get(status, ("█", "$primary", status))
        a = int(min(max(start / wall, 0.0), 1.0) * bar_w)
        b = max(a + 1, round(min(max(end / wall, 0.0), 1.0) * bar_w))
        b = min(b, bar_w)
        lines.append(
            Content.assemble(
                "  ",
                (fmt.fit(name, label_w), ""),
                ("│", "$text-muted"),
                " " * a,
                (ch * (b - a), style),
                " " * (bar_w - b),
                ("│", "$text-muted"),
                (f" {fmt.secs(end - start):>7} ", ""),
                (label, style if status != "ok" else "$text-muted"),
            )
        )
    return lines


class Gantt(StateBox):
    """The most recent ``max_runs`` parallel runs (all parallels, newest first)."""

    TITLE = "Recent parallel runs"

    def __init__(
        self, state: PanelState, *, max_runs: int | None = 3, id: str | None = None
    ) -> None:
        """``max_runs`` None: as many runs as fit the box's height (at least one)."""
        super().__init__(state, id=id)
        self.max_runs = max_runs

    def render_state(self, width: int) -> list[Content]:
        runs = self.state.recent_runs(self.max_runs or 30)
        if not runs:
            return [Content.styled("no parallel runs yet", "$text-muted")]
        label_w = min(14, max((fmt.cells(b[0]) for r in runs for b in r.branches), default=6))
        room = self.content_region.height if self.max_runs is None else 1 << 30
        lines: list[Content] = []
        for run in runs:
            block = run_lines(run, width, label_w)
            if lines and len(lines) + len(block) > room:
                break
            lines.extend(block)
        return lines
