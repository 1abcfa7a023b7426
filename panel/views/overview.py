"""Overview: the one-screen summary of the engine."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal

from flowdeck.panel.keys import footer_bindings
from flowdeck.panel.views.base import View
from flowdeck.panel.widgets.cache_rates import CacheRates
from flowdeck.panel.widgets.gantt import Gantt
from flowdeck.panel.widgets.kpis import Kpis
from flowdeck.panel.widgets.provider_stats import ProviderStats
from flowdeck.panel.widgets.route_split import RouteSplit


class OverviewView(View):
    """Headline numbers, hit-rate sparklines, routing split, providers, recent runs."""

    BINDINGS: ClassVar[list[BindingType]] = footer_bindings()

    DEFAULT_CSS = """
    OverviewView #overview-top { height: 6; max-height: 50%; }
    OverviewView #overview-bottom { height: 1fr; }
    OverviewView Horizontal StateBox { width: 1fr; }
    OverviewView #overview-top StateBox { height: 100%; }
    OverviewView #overview-bottom StateBox { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Kpis(self.state, id="kpis")
        with Horizontal(id="overview-top"):
            yield CacheRates(self.state, id="cache-rates")
            yield RouteSplit(self.state, id="route-split")
        with Horizontal(id="overview-bottom"):
            yield ProviderStats(self.state, id="provider-stats")
            yield Gantt(self.state, max_runs=None, id="mini-gantt")

    def paint(self, force: bool) -> None:
        """Give the top row the height of its taller box (both boxes share it)."""
        # What the two boxes built (a router's trouble line included), plus their border.
        boxes = (self.query_one(CacheRates), self.query_one(RouteSplit))
        height = max(box.lines_wanted for box in boxes) + 2
        top = self.query_one("#overview-top")
        if top.styles.height is None or top.styles.height.value != height:
            top.styles.height = height
