"""Events: the live event stream, filtered, bounded."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, RichLog

from panel import fmt
from panel.palette import palette
from panel.state import PanelState
from panel.views.base import View

PER_PAINT = 200  # newest matching events written per repaint
MAX_LINES = 2000


def _kind_style(kind: str, pal: dict[str, str]) -> str:
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
    return ""


def _field(v: Any) -> str:
    if isinstance(v, float):
        return fmt.secs(v) if v < 1e4 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(map(str, v)) + "]"
    return str(v)


def event_plain(ev: list[Any], state: PanelState) -> str:
    """One event as a plain line (used for filtering and display)."""
    seq, ts, kind = ev[0], ev[1], ev[2]
    clock = time.strftime("%H:%M:%S", time.localtime(state.event_time(float(ts))))
    fields = " ".join(_field(v) for v in ev[3:])
    return f"{seq:>9} {clock} {kind:<17} {fields}"


class EventsView(View):
    """A filter box and a log of the newest events (at most ``PER_PAINT`` per repaint)."""

    DEFAULT_CSS = """
    EventsView RichLog { height: 1fr; }
    EventsView .actions Label { width: 1fr; }
    """

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(state, id=id)
        self._last_seq = 0
        self._filter: list[str] = []

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter events: words that must all appear, e.g. cache.flush llm (/)",
            id="event-filter",
            compact=True,
            classes="filter",
        )
        yield RichLog(max_lines=MAX_LINES, wrap=False, id="event-log", auto_scroll=True)
        with Horizontal(classes="actions"):
            yield Label("", id="event-count", classes="hint")

    def paint(self, force: bool) -> None:
        log = self.query_one(RichLog)
        st = self.state
        if force:
            log.clear()
            self._last_seq = 0
        if st.events and st.events[-1][0] < self._last_seq:  # engine restarted: seq reset
            self._last_seq = 0
        pal = palette(self.app)
        words = self._filter
        picked: list[tuple[list[Any], str]] = []
        scanned = 0
        newest = st.events[-1][0] if st.events else self._last_seq
        for ev in st.iter_events_newest():
            if ev[0] <= self._last_seq:
                break
            scanned += 1
            line = event_plain(ev, st)
            if words:
                low = line.lower()
                if not all(w in low for w in words):
                    continue
            picked.append((ev, line))
            if len(picked) >= PER_PAINT:
                break
        unseen = max(0, newest - self._last_seq - scanned) if self._last_seq else 0
        if unseen:
            log.write(
                Text(
                    f"… {fmt.num(unseen)} more events since the last repaint not shown",
                    style=pal["muted"],
                )
            )
        for ev, line in reversed(picked):
            text = Text(line)
            start = line.find(ev[2], 19)
            if start >= 0:
                text.stylize(_kind_style(ev[2], pal), start, start + len(ev[2]))
            text.stylize(pal["muted"], 0, 19)
            log.write(text)
        self._last_seq = max(self._last_seq, newest)
        flt = f"  ·  filter: {' '.join(words)}" if words else ""
        self.query_one("#event-count", Label).update(
            f"{fmt.num(st.events_total)} events received  ·  {fmt.num(st.eps)}/s  ·  "
            f"dropped {fmt.num(st.dropped_total)}{flt}  ·  p pauses the display"
        )

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "event-filter":
            self._filter = event.value.lower().split()
            self.refresh_view(force=True)
