"""Events: the live event stream, filtered, bounded."""

from __future__ import annotations

import time
from collections import deque
from itertools import islice
from typing import Any, ClassVar

from rich.style import Style
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label

from flowdeck.engine.control.protocol import EVENT_FIELDS
from flowdeck.panel import fmt
from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.palette import palette
from flowdeck.panel.state import PanelState
from flowdeck.panel.views.base import View
from flowdeck.panel.widgets.event_tail import EventTail


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


# Short labels for numeric fields, so "7 78" reads as "in=7 out=78".
_LABELS = {
    "tokens_in": "in",
    "tokens_out": "out",
    "count": "n",
    "keyword_count": "words",
    "result_count": "found",
    "branch_count": "branches",
    "attempt": "try",
    "max_size": "max",
    "l1_count": "l1",
    "l2_count": "l2",
}


def _field(name: str, v: Any) -> str | None:
    """One field as the operator reads it: units by field name, flags only when set."""
    if v is None:
        return None
    if isinstance(v, bool):
        return name if v else None
    if name == "cost" and isinstance(v, (int, float)):
        return fmt.money(v)
    if (name.endswith("_s") or name in ("seconds", "ttl")) and isinstance(v, (int, float)):
        return fmt.secs(v) if name != "ttl" else f"ttl={fmt.ttl(v)}"
    if name == "run_id":
        return f"#{v}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(map(str, v)) + "]"
    if isinstance(v, (int, float)):
        label = _LABELS.get(name, name)
        return f"{label}={v:.4g}" if isinstance(v, float) else f"{label}={v}"
    return str(v)


def count_line(
    st: PanelState, shown: int, words: list[str], following: bool, width: int, paused: bool = False
) -> str:
    """The line under the log: counts, then the key hint for the log's state (paused,
    following or stopped), the hint left out when the line would wrap (80 columns)."""
    flt = f" (filter: {' '.join(words)})" if words else f" (last {fmt.num(shown)})"
    if paused:
        hint = "paused: p resumes"
    else:
        hint = "p pauses, scroll up to stop following" if following else "stopped: End follows"
    received, rate = fmt.num(st.events_total), fmt.rate(st.eps)
    dropped, n = fmt.num(st.dropped_total), fmt.num(shown)
    wide = f"{received} events received  ·  {rate}/s  ·  dropped {dropped}  ·  {n} shown{flt}"
    narrow = f"{received} events · {rate}/s · dropped {dropped} · {n} shown{flt}"
    if not width:
        return f"{wide}  ·  {hint}"
    # width - 2: the label's padding
    return fmt.first_that_fits(width - 2, f"{wide}  ·  {hint}", f"{narrow} · {hint}", narrow)


def event_parts(ev: list[Any], state: PanelState) -> tuple[str, str, str]:
    """``(prefix, kind, fields)`` of one event: seq and clock, kind, its fields."""
    clock = time.strftime("%H:%M:%S", time.localtime(state.event_time(float(ev[1]))))
    names = EVENT_FIELDS.get(ev[2], ())
    parts = []
    for i, v in enumerate(ev[3:]):
        text = _field(names[i] if i < len(names) else "", v)
        if text is not None:
            parts.append(text)
    return f"{ev[0]:>9} {clock} ", f"{ev[2]:<17}", " " + " ".join(parts)


def event_plain(ev: list[Any], state: PanelState) -> str:
    """One event as a plain line (used for filtering)."""
    return "".join(event_parts(ev, state))


# Matches of an active filter kept beyond the model's ring (which holds only the newest
# few thousand events, seconds of a busy engine): a rare event stays found.
MATCHES_KEPT = 10_000


class EventsView(View):
    """A filter box and the newest events, newest last.

    Without a filter it shows the model's ring. With one, each event is tested once as
    it arrives and the matches are kept in a bounded list of their own, so a filter for
    a rare kind keeps its lines after they leave the ring. The EventTail formats only
    the lines on screen; scrolling up stops following, ``p`` freezes everything.
    """

    BINDINGS: ClassVar[list[BindingType]] = footer_bindings("filter")

    filter_id = "event-filter"

    DEFAULT_CSS = """
    EventsView .actions Label { width: 1fr; }
    """

    def __init__(self, state: PanelState, *, id: str | None = None) -> None:
        super().__init__(state, id=id)
        self._filter: list[str] = []
        self._matches: deque[list[Any]] = deque(maxlen=MATCHES_KEPT)
        self._seen = 0  # the model's events_total when the matches were last brought up to date
        self._styles: dict[str, Style] = {}
        self._muted = Style()
        self._paused = False

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter events: words that must all appear, e.g. cache.flush llm (/)",
            id="event-filter",
            compact=True,
            classes="filter",
        )
        yield EventTail(self._format, id="event-log")
        with Horizontal(classes="actions"):
            yield Label("", id="event-count", classes="hint", markup=False)

    def primary(self) -> Widget | None:
        return self.query_one(EventTail)

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
            self._catch_up()
            rows = list(self._matches)
            empty = f"no event matches {' '.join(words)!r} yet: new ones that do appear here"
        else:
            rows = list(st.events)
            empty = "no events yet" if st.has_data else "waiting for the engine…"
        tail.empty = (empty, self._muted)
        tail.set_rows(rows)
        self._count_line(len(rows))

    def _count_line(self, shown: int) -> None:
        tail = self.query_one(EventTail)
        line = count_line(
            self.state, shown, self._filter, tail.following, self.size.width, self._paused
        )
        self.query_one("#event-count", Label).update(line)

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        if self.is_mounted:
            self._count_line(len(self.query_one(EventTail).rows))

    def _catch_up(self) -> None:
        """Test the events that arrived since the last paint and keep the matches."""
        st, words = self.state, self._filter
        new = min(st.events_total - self._seen, len(st.events))
        self._seen = st.events_total
        if new <= 0:
            return
        keep = self._matches.append
        for ev in reversed(list(islice(reversed(st.events), new))):
            low = event_plain(ev, st).lower()
            if all(w in low for w in words):
                keep(ev)

    def set_filter(self, text: str) -> None:
        """Filter by ``text`` (words that must all appear); matches restart from the ring."""
        self._filter = text.lower().split()
        self._matches.clear()
        self._seen = self.state.events_total - len(self.state.events)
        self.refresh_view(force=True)

    def apply_filter(self, text: str) -> None:
        self.set_filter(text)
