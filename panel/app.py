"""FlowdeckApp: the Textual control panel. It composes; the work lives beside it.

- ``feed.Feed`` follows the engine (LiveClient consumer, embedded demo engine) and
  applies every update to the ``PanelState`` at once;
- this app repaints the header and the visible view on its refresh tick;
- ``actions.Operator`` runs the operator's actions behind one gate, on the targets the
  views report with their ``Selected`` messages; ``operator_keys`` binds them to keys;
- ``commands`` builds the palette as Textual ``SystemCommand``s from the key table.

A new view is one entry of ``VIEWS`` (and a key in ``keys.KEYS``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, TabbedContent, TabPane

from flowdeck.engine.control import protocol as P
from flowdeck.panel import keys
from flowdeck.panel.actions import Operator
from flowdeck.panel.commands import fleet_commands, palette_commands
from flowdeck.panel.export import export_snapshot
from flowdeck.panel.feed import Embed, Feed
from flowdeck.panel.modals.help import HelpModal
from flowdeck.panel.operator_keys import OperatorKeys
from flowdeck.panel.refresh import MAX_REFRESH, MIN_REFRESH, bounded, faster, slower
from flowdeck.panel.selection import Selection
from flowdeck.panel.state import PanelState
from flowdeck.panel.themes import BORDER_VARIABLE, DEFAULT_THEME, border_color, load_themes
from flowdeck.panel.toasts import superseded
from flowdeck.panel.views.audit import AuditView
from flowdeck.panel.views.base import TableView, View
from flowdeck.panel.views.caches import CachesView
from flowdeck.panel.views.events import EventsView
from flowdeck.panel.views.memory import MemoryView, format_results
from flowdeck.panel.views.overview import OverviewView
from flowdeck.panel.views.providers import ProvidersView
from flowdeck.panel.views.routers import RoutersView
from flowdeck.panel.views.timelines import TimelinesView
from flowdeck.panel.widgets.header import StatusHeader

VIEWS: list[tuple[str, str, type[View]]] = [
    ("overview", "1 Overview", OverviewView),
    ("caches", "2 Caches", CachesView),
    ("routers", "3 Routers", RoutersView),
    ("timelines", "4 Timelines", TimelinesView),
    ("memory", "5 Memory", MemoryView),
    ("events", "6 Events", EventsView),
    ("audit", "7 Audit", AuditView),
    ("providers", "8 Providers", ProvidersView),
]


class FlowdeckApp(OperatorKeys, App[None]):
    """Attach to an engine's control socket and show / tune it live."""

    CSS_PATH = "app.tcss"
    TITLE = "Flowdeck"
    BINDINGS: ClassVar[list[BindingType]] = keys.bindings()  # type: ignore[assignment]  # list[Binding] is a list[BindingType]; ClassVar invariance
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (90, "-wide")]  # app.tcss: tabs at 80 columns

    def __init__(
        self,
        *,
        socket: str | os.PathLike[str] | None = None,
        theme: str | None = None,
        read_only: bool = False,
        refresh: float = 0.5,
        embed: bool | None = None,
        user_theme_dir: Path | None = None,
        embed_options: dict[str, Any] | None = None,
        export_dir: Path | None = None,
        state: PanelState | None = None,
        engine: str | None = None,
        redis: str | None = None,
        fleet: str = "flowdeck",
    ) -> None:
        """``embed`` None: start the demo engine only if no ``socket`` was given and
        nothing listens on the default one; True: always start it; False: never.
        ``state``: show this (frozen) state and follow no engine (snapshot tests)."""
        super().__init__()
        if not MIN_REFRESH <= refresh <= MAX_REFRESH:
            raise ValueError(f"refresh must be {MIN_REFRESH}..{MAX_REFRESH} s, got {refresh}")
        self.socket_path = Path(socket) if socket else P.default_socket_path()
        mode: Embed = (
            ("auto" if socket is None else "never")
            if embed is None
            else ("always" if embed else "never")
        )
        self.follow = state is None
        self.state = state or PanelState(socket=str(self.socket_path), read_only=read_only)
        self.feed = Feed(
            self.state,
            self.socket_path,
            embed=mode,
            notify=self.notify,
            changed=lambda: self.call_later(self._tick),
            embed_options=embed_options,
        )
        # No socket named anywhere: find this host's engines first (panel.fleet.attach).
        # --redis: the Fleet view of every host first (panel.fleet.redis_feed).
        self.redis_url, self.fleet_name = redis, fleet
        self.discover = redis is not None or (
            socket is None and embed is None and not os.environ.get("FLOWDECK_SOCKET")
        )
        self.engine_selector = engine
        self.fleet: Any = None  # panel.fleet.feed.FleetFeed once there is a fleet
        self.fleet_position: tuple[int | None, int] | None = None  # "2 of 3" when attached
        if self.discover:
            from flowdeck.panel.fleet import attach

            self.feed.choose = lambda: attach.initial_target(self)
        self.operator = Operator(self, self.state, self.feed, self.live_selection)
        self.export_dir = export_dir
        self.refresh_rate = refresh
        self.fleet_refresh: float | None = None  # the Fleet view's own, once +/- set it
        self.paused = False
        self.paused_at: float | None = None  # when the figures shown were taken (paused)
        self.views: dict[str, View] = {}
        self._timer: Timer | None = None
        self._read_only_shown: bool | None = None
        self.repaints = 0
        self.wanted_theme = theme or DEFAULT_THEME
        themes, self.theme_problems = load_themes(user_theme_dir)
        for t in themes.values():
            self.register_theme(t)
        self.theme = DEFAULT_THEME if DEFAULT_THEME in themes else "textual-dark"

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast; plain text by default: messages carry names, typed input and the
        engine's answers, and a ``[`` in them must show as it is, not break the panel."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _on_notify(self, event: Any) -> None:
        """Before Textual's own handler adds the toast (it runs next): drop the equal
        toasts on screen and the oldest beyond the cap (panel.toasts)."""
        for old in superseded(self._notifications, event.notification):
            self._unnotify(old, refresh=False)

    def withdraw(self, title: str) -> None:
        """Take the toasts titled ``title`` off screen (their advice was just taken)."""
        for shown in [n for n in self._notifications if n.title == title]:
            self._unnotify(shown)

    # ---- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusHeader(self.state, id="header")
        with TabbedContent(initial=VIEWS[0][0], id="tabs"):
            for pane_id, title, cls in VIEWS:
                with TabPane(title, id=pane_id):
                    view = self.views[pane_id] = cls(self.state, id=f"view-{pane_id}")
                    yield view
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._apply_theme_choice()
        self._timer = self.set_interval(self.refresh_rate, self._tick, name="repaint")
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        if self.follow:
            self.run_worker(self.feed.run(), group="live", exclusive=True, exit_on_error=False)
        else:
            self.call_later(self._tick)

    async def on_unmount(self) -> None:
        if self.fleet is not None:
            await self.fleet.stop()
        await self.feed.close()

    # ---- themes -----------------------------------------------------------------------
    def _apply_theme_choice(self) -> None:
        wanted = self.wanted_theme
        problems = self.theme_problems
        if problems:
            # One toast for every broken file (four files, one toast). The fallback is
            # worth saying only for the theme that was asked for (the "No theme named"
            # message below says it); another broken file changes nothing.
            self.notify(
                "\n".join(str(p) for p in problems),
                title=f"Theme file{'s' if len(problems) > 1 else ''} skipped",
                severity="error",
                timeout=12,
            )
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.notify(
                f"No theme named {wanted!r}; using '{self.theme}'. "
                f"Available: {', '.join(sorted(self.available_themes))}",
                title="Unknown theme",
                severity="warning",
                timeout=10,
            )

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """``$box-border`` for a theme that does not set it (Textual's own themes)."""
        return {BORDER_VARIABLE: border_color(self.current_theme)}

    def set_theme(self, name: str) -> None:
        self.theme = name

    def _on_theme_changed(self, _theme: Any) -> None:
        for view in self.views.values():
            view.invalidate()
        self._tick()

    # ---- repainting -------------------------------------------------------------------
    def _tick(self) -> None:
        """Repaint the header and the visible view (at most once per refresh tick)."""
        try:
            header = self.query_one(StatusHeader)
            tabs = self.query_one(TabbedContent)
        except NoMatches:
            return
        header.paused = self.paused
        header.paused_at = self.paused_at
        header.refresh_rate = self.refresh_rate
        from flowdeck.panel.fleet.attach import live_position

        header.fleet_position = live_position(self)  # where it stands in the fleet now
        header.update_from_state()
        stale = self.state.ever_connected and not self.state.connected
        if tabs.has_class("-stale") != stale:
            tabs.set_class(stale, "-stale")
            self.refresh_bindings()  # the write keys: disabled while the engine is away
        ro = self.state.read_only
        if ro != self._read_only_shown:
            self._read_only_shown = ro
            for view in self.views.values():
                view.set_read_only(ro)
            self.refresh_bindings()
        if self.paused:
            return
        active = self.active_view
        if active is not None:
            active.refresh_view()
            self.repaints += 1

    @property
    def active_view(self) -> View | None:
        try:
            pane = self.query_one(TabbedContent).active
        except NoMatches:
            return None
        return self.views.get(pane)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Paint the view shown. While paused too, from the data of now, and the header's
        "data of" time moves with it: the screen never mixes figures of two moments (a
        view left earlier would otherwise show what it had then)."""
        view = self.active_view
        if view is None:
            return
        if self.paused:
            self.paused_at = time.time()
            self._tick()  # the header, re-frozen at this moment
        view.refresh_view()

    def live_selection(self, group: str) -> Selection | None:
        """The shown table view's selected row now, if it is the view of ``group``."""
        view = self.active_view
        if isinstance(view, TableView) and view.group == group and view.table is not None:
            return view.selection
        return None

    # ---- messages from the views ------------------------------------------------------
    def on_table_view_selected(self, message: TableView.Selected) -> None:
        self.operator.select(message.group, message.selection)

    def on_memory_view_search_requested(self, message: MemoryView.SearchRequested) -> None:
        view, query = message.view, message.query
        sel = self.operator.target("memories")
        self.operator.search_memory(
            sel,
            query,
            lambda result: view.show_results(format_results(sel.name or "", query, result)),
        )

    # ---- the palette ------------------------------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own entries we do not replace (screenshot, maximize), then ours."""
        from flowdeck.panel.fleet.screen import FleetScreen

        ours = {"Theme", "Quit", "Keys"}
        for cmd in super().get_system_commands(screen):
            if cmd.title not in ours:
                yield cmd
        if isinstance(screen, FleetScreen):  # its own actions, not the engine views'
            yield from fleet_commands(self, screen.fleet_commands())
        else:
            yield from palette_commands(self)

    # ---- actions: display -------------------------------------------------------------
    def action_view(self, pane: str) -> None:
        """Show a view and focus its main widget (arrows select rows, s / S sort)."""
        view = self.views.get(pane)
        if view is None or not self.on_engine_views():
            return  # over the Fleet view (its own digits open an engine) or a dialog
        tabs = self.query_one(TabbedContent)
        if tabs.active != pane:
            # Let go of a widget in the old view first: Textual moves the focus of a
            # widget that gets hidden to a sibling in the same (hidden) pane, and
            # focusing inside a pane switches back to it, so the key would do nothing.
            self.screen.set_focus(None)
            tabs.active = pane
        target = view.primary()
        if target is not None:
            target.focus()

    def action_fleet(self) -> None:
        """Back to the Fleet view (from one engine, or from the demo once one appeared)."""
        from flowdeck.panel.fleet import attach

        attach.back_to_fleet(self)

    def action_help(self) -> None:
        from flowdeck.panel.fleet.screen import FleetScreen

        self.push_screen(HelpModal(self.state.read_only, isinstance(self.screen, FleetScreen)))

    def action_pause(self) -> None:
        """Freeze / unfreeze the display (the header shows PAUSED; data keeps arriving)."""
        self.paused = not self.paused
        self.paused_at = time.time() if self.paused else None
        self.refresh_bindings()  # the footer's "space Pause" becomes "space Resume"
        for view in self.views.values():
            view.set_paused(self.paused)
        self._tick()

    action_resume = action_pause

    def _set_refresh(self, rate: float) -> None:
        rate = bounded(rate)
        self.refresh_rate = rate
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(rate, self._tick, name="repaint")
        self._tick()
        self.notify(f"Refresh every {rate:g} s", timeout=2)

    def action_faster(self) -> None:
        self._set_refresh(faster(self.refresh_rate))

    def action_slower(self) -> None:
        self._set_refresh(slower(self.refresh_rate))

    def action_filter(self) -> None:
        view = self.active_view
        if view is None or not view.focus_filter():
            self.notify(
                "This view has no filter; the Caches, Routers, Memory, Events, Audit and "
                "Providers views do.",
                timeout=3,
            )

    def _sort(self, reverse: bool) -> None:
        view = self.active_view
        table = view.table if view is not None else None
        if table is None:
            self.notify("This view has no table to sort.", timeout=3)
        elif reverse:
            table.action_sort_reverse()
        else:
            table.action_sort_next()

    def action_sort(self) -> None:
        self._sort(reverse=False)

    def action_sort_reverse(self) -> None:
        self._sort(reverse=True)

    def action_search(self) -> None:
        self.action_view("memory")
        self.views["memory"].focus_filter()

    def on_engine_views(self) -> bool:
        return len(self.screen_stack) <= 1

    def action_export(self) -> None:
        export_snapshot(self, self.state, self.export_dir)
