"""Timelines: a gantt of the most recent parallel runs."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget

from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.views.base import View
from flowdeck.panel.widgets.gantt import Gantt
from flowdeck.panel.widgets.parallel_summary import ParallelSummary


class TimelinesView(View):
    """Summary per Parallel, then one block per recent run (newest first)."""

    BINDINGS: ClassVar[list[BindingType]] = footer_bindings()

    DEFAULT_CSS = """
    TimelinesView VerticalScroll { height: 1fr; }
    TimelinesView Gantt { border: none; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield ParallelSummary(self.state, id="parallel-summary")
        with VerticalScroll():
            yield Gantt(self.state, max_runs=12, id="gantt")

    def primary(self) -> Widget | None:
        return self.query_one(VerticalScroll)
