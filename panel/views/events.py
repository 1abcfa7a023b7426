"""Events: the live event stream, filtered, bounded."""

from __future__ import annotations

import time
from typing import Any

from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label

from panel import fmt
from panel.palette import palette
from panel.state import PanelState
from panel.views.base import View
from panel.widgets.event_tail import EventTail


def _kind_color(kind: str, pal: dict[str, str]) -> str:
    if kind.endswith("error") or kind == "provider.cooldown":
        return pal["error"]
    if kind in ("redis", "provider.retry", "provider.fallback", "cache.evict"):
        return pal["warning"]
    if kind.startswith("cache."):
        return pal["primary"]
    if kind.startswith("route"):
        return pal["secondary"]
    if kind.startswith("parallel."):
        return pal["accent"]
    if kind.startswith("provider."):
        return pal["success"]
    return pal["foreground"]


def _field(v: Any) -> str:
    if isinstance(v, float):
        return fmt.secs(v) if v < 1e4 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(map(str, v)) + "]"
    return str(v)


def event_parts(ev: list[Any], state: PanelState) -> tuple[str, str, str]:
    """``(prefix, kind, fields)`` of one event: seq and clock, kind, its fields."""
    clock = time.strftime("%H:%M:%S", time.localtime(state.event_time(float(ev[1]))))
    return f"{ev[0]:>9} {clock} ", f"{ev[2]:<17}", " " + " ".join(_field(v) for v in ev[3:])


def event_plain(ev: list[Any], state: PanelState) -> str:
    """One event as a plain line (used for filtering)."""
    return "".join(event_parts(ev, state))


class EventsView(View):
    """A filter box and the newest events of the model's ring (bounded), newest last.

    Each repaint hands the (filtered) ring to an EventTail, which formats only the
    lines on screen; scrolling up stops following, ``p`` freezes everything.
    """

    DEFAULT_CSS = """
    EventsView .actions Label { width: 1fr; }
    """

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(state, id=id)
        self._filter: list[str] = []
        self._styles: dict[str, Style] = {}
        self._muted = Style()

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter events: words that must all appear, e.g. cache.flush llm (/)",
            id="event-filter",
            compact=True,
            classes="filter",
        )
        yield EventTail(self._format, id="event-log")
        with Horizontal(classes="actions"):
            yield Label("", id="event-count", classes="hint")

    def _format(self, ev: list[Any]) -> list[tuple[str, Style | None]]:
        prefix, kind, fields = event_parts(ev, self.state)
        style = self._styles.get(ev[2])
        if style is None:
            style = self._styles[ev[2]] = Style(color=_kind_color(ev[2], palette(self.app)))
        return [(prefix, self._muted), (kind, style), (fields, None)]

    def paint(self, force: bool) -> None:
        st = self.state
        tail = self.query_one(EventTail)
        if force:
            self._styles.clear()
            self._muted = Style(color=palette(self.app)["muted"])
            tail.clear_cache()
        words = self._filter
        if words:
            rows = []
            for ev in st.events:
                low = event_plain(ev, st).lower()
                if all(w in low for w in words):
                    rows.append(ev)
        else:
            rows = list(st.events)
        tail.set_rows(rows)
        shown = f"{fmt.num(len(rows))} shown"
        flt = f" (filter: {' '.join(words)})" if words else f" (last {fmt.num(len(rows))})"
        self.query_one("#event-count", Label).update(
            f"{fmt.num(st.events_total)} events received  ·  {fmt.rate(st.eps)}/s  ·  "
            f"dropped {fmt.num(st.dropped_total)}  ·  {shown}{flt}  ·  p pauses, scroll up to "
            "stop following"
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "event-filter":
            self._filter = event.value.lower().split()
            self.refresh_view(force=True)
