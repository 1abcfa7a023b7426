"""Memory: namespaces and sizes, and a search box that queries the engine."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from flowdeck.engine.control.schema import SearchReply
from flowdeck.panel import fmt
from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.state import PanelState
from flowdeck.panel.views.base import TableView
from flowdeck.panel.widgets.live_table import Cell, Column, LiveTable

COLUMNS = [
    Column("name", "Memory"),
    Column("namespace", "Namespace"),
    Column("size", "Size/Max", right=True),
    Column("adds", "Adds", right=True),
    Column("searches", "Searches", right=True),
    Column("search_p50", "Search p50", right=True),
    Column("l2", "L2"),
]


def memory_rows(state: PanelState, pal: dict[str, str]) -> dict[str, dict[str, Cell]]:
    rows = {}
    for name, m in state.group("memories").items():
        st = m.get("stats") or {}
        size = int(st.get("size") or 0)
        pending = int(st.get("pending_l2") or 0)
        errors = int(st.get("l2_errors") or 0)
        l2 = "on" if m.get("l2") else "off"
        if pending or errors:
            l2 += f" ({fmt.num(pending)} pending, {fmt.num(errors)} err)"
        rows[name] = {
            "name": Cell(name, style="bold"),
            "namespace": Cell(str(m.get("namespace", ""))),
            "size": Cell(
                f"{fmt.num(size)}/{fmt.num(m.get('max_size'))}",
                size,
                right=True,
            ),
            "adds": Cell(fmt.num(st.get("adds")), int(st.get("adds") or 0), right=True),
            "searches": Cell(fmt.num(st.get("searches")), int(st.get("searches") or 0), right=True),
            "search_p50": Cell(
                fmt.secs(st.get("search_p50")), st.get("search_p50") or 0.0, right=True
            ),
            "l2": Cell(l2, style=pal["warning"] if pending or errors else ""),
        }
    return rows


SEARCH_SHOWN = 20
"""Results shown; the search asks for one more, to know whether more entries match."""


def results_count(reply: object) -> str:
    """'3 results', or 'the best 20 results (more match)' when the search was cut."""
    results = reply.get("results") if isinstance(reply, dict) else None
    got = len(results) if isinstance(results, list) else 0
    if got > SEARCH_SHOWN:
        return f"the best {SEARCH_SHOWN} results (more match)"
    return fmt.count(got, "result")


def format_results(name: str, query: str, reply: SearchReply) -> Content:
    """The answer of ``memory.search`` as lines: key, score and a value preview."""
    results = reply["results"][:SEARCH_SHOWN]
    head = Content.assemble(
        (results_count(reply), "bold"), (f" in {name} for {query!r}", "$text-muted")
    )
    lines = [head]
    for item in results:
        key, value, score = item["key"], item["value"], item["score"]
        preview = " ".join(str(value).split())
        lines.append(
            Content.assemble(
                ("• ", "$accent"),
                (str(key), "bold"),
                (f"  score {score:.3g}" if isinstance(score, (int, float)) else "", "$text-muted"),
                "  ",
                fmt.clip(preview, 200),
            )
        )
    return Content("\n").join(lines)


class MemoryView(TableView):
    """Namespaces table; search box (Enter queries the selected memory); clear action."""

    BINDINGS: ClassVar[list[BindingType]] = footer_bindings("search", "clear_memory")

    group = "memories"

    class SearchRequested(Message):
        """The operator asked to search the selected memory for ``query``."""

        def __init__(self, view: MemoryView, query: str) -> None:
            super().__init__()
            self.view = view
            self.query = query

        @property
        def control(self) -> MemoryView:
            return self.view

    def rows(self, colors: dict[str, str]) -> dict[str, dict[str, Cell]]:
        return memory_rows(self.state, colors)

    DEFAULT_CSS = """
    MemoryView LiveTable { height: auto; max-height: 50%; }
    MemoryView #memory-results { height: 1fr; border-top: solid $box-border; }
    """

    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS, id="memory-table")
        with Horizontal(classes="actions"):
            yield Button(
                "Clear namespace",
                action="app.clear_memory",
                compact=True,
                classes="mutating",
                id="btn-clear-memory",
            )
            yield Label("select a memory, type keywords below, Enter searches it", classes="hint")
        yield Input(
            placeholder="search keywords in the selected memory (/ to focus)",
            id="memory-search",
            compact=True,
            classes="filter",
        )
        with VerticalScroll(id="memory-results"):
            yield Static(Content.styled("no search yet", "$text-muted"), id="memory-found")

    def show_results(self, content: Content) -> None:
        self.query_one("#memory-found", Static).update(content)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "memory-search":
            return
        event.stop()
        query = event.value.strip()
        if not query:
            self.app.notify("Type one or more keywords to search for.", severity="warning")
            return
        if not any(ch.isalnum() for ch in query):
            self.app.notify(
                f"{query!r} has no keywords to search for: words are letters and digits.",
                severity="warning",
            )
            return
        # The box keeps the focus, as a search box does: the next query is typed, not
        # read as commands (one with a "q" in it quit the panel). Escape leaves it. The
        # query is selected, so typing replaces it ("cache" then "router" searched
        # "cacherouter"); an arrow key keeps it to refine.
        self.post_message(self.SearchRequested(self, query))
        event.input.select_all()
