"""FlowdeckApp: the Textual control panel.

One task consumes the engine's LiveClient and applies every update to the PanelState
at once (cheap); the widgets repaint on a timer at the refresh rate, and only the
visible view repaints. Operator actions go to the engine through the same LiveClient
and the engine's answer is shown as a notification.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.css.query import NoMatches, WrongType
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import Footer, TabbedContent, TabPane

from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import (
    ConnectionLost,
    ControlClient,
    ControlError,
    EngineNotRunning,
    LiveClient,
)
from flowdeck.panel import fmt, keys
from flowdeck.panel.commands import FlowdeckCommands
from flowdeck.panel.modals.confirm import ConfirmModal
from flowdeck.panel.modals.help import HelpModal
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from flowdeck.panel.state import PanelState
from flowdeck.panel.themes import DEFAULT_THEME, load_themes
from flowdeck.panel.validate import parse_size, parse_ttl
from flowdeck.panel.views.base import View
from flowdeck.panel.views.caches import CachesView
from flowdeck.panel.views.events import EventsView
from flowdeck.panel.views.memory import MemoryView, format_results
from flowdeck.panel.views.overview import OverviewView
from flowdeck.panel.views.routers import RoutersView
from flowdeck.panel.views.timelines import TimelinesView
from flowdeck.panel.widgets.header import StatusHeader
from flowdeck.panel.widgets.live_table import LiveTable

REFRESH_STEPS = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
MIN_REFRESH, MAX_REFRESH = 0.1, 10.0
AUTO = "\x00auto"  # the "auto" choice of the pin picker (never a route name)

VIEWS: list[tuple[str, str, type[View]]] = [
    ("overview", "1 Overview", OverviewView),
    ("caches", "2 Caches", CachesView),
    ("routers", "3 Routers", RoutersView),
    ("timelines", "4 Timelines", TimelinesView),
    ("memory", "5 Memory", MemoryView),
    ("events", "6 Events", EventsView),
]


class FlowdeckApp(App[None]):
    """Attach to an engine's control socket and show / tune it live."""

    CSS_PATH = "app.tcss"
    TITLE = "Flowdeck"
    BINDINGS: ClassVar[list[BindingType]] = keys.bindings()  # type: ignore[assignment]
    COMMANDS = App.COMMANDS | {FlowdeckCommands}
    ENABLE_COMMAND_PALETTE = True

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
    ) -> None:
        """``embed`` None: start the demo engine only if no ``socket`` was given and
        nothing listens on the default one; True: always start it; False: never."""
        super().__init__()
        if not MIN_REFRESH <= refresh <= MAX_REFRESH:
            raise ValueError(f"refresh must be {MIN_REFRESH}..{MAX_REFRESH} s, got {refresh}")
        self.socket_path = Path(socket) if socket else P.default_socket_path()
        self.embed: str = (
            ("auto" if socket is None else "never")
            if embed is None
            else ("always" if embed else "never")
        )
        self.embed_options = embed_options or {}
        self.state = PanelState(socket=str(self.socket_path), read_only=read_only)
        self.refresh_rate = refresh
        self.paused = False
        self.live: LiveClient | None = None
        self.embedded: Any = None  # panel.embedded.EmbeddedEngine
        self._timer: Timer | None = None
        self._read_only_shown: bool | None = None
        self.repaints = 0
        self._bad_updates = 0
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

    # ---- layout -----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusHeader(self.state, id="header")
        with TabbedContent(initial="overview", id="tabs"):
            for pane_id, title, cls in VIEWS:
                with TabPane(title, id=pane_id):
                    yield cls(self.state, id=f"view-{pane_id}")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._apply_theme_choice()
        header = self.query_one(StatusHeader)
        header.refresh_rate = self.refresh_rate
        self._timer = self.set_interval(self.refresh_rate, self._tick, name="repaint")
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._consume()

    def _apply_theme_choice(self) -> None:
        wanted = self.wanted_theme
        for problem in self.theme_problems:
            # The fallback is worth saying only for the theme that was asked for (the
            # "No theme named" message below says it); another broken file changes nothing.
            self.notify(
                problem.message,
                title=f"Theme file skipped: {problem.source}",
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

    def _on_theme_changed(self, _theme: Any) -> None:
        for view in self.query(View):
            view.invalidate()
        self._tick()

    # ---- the LiveClient consumer ----------------------------------------------------------
    @work(group="live", exclusive=True, exit_on_error=False)
    async def _consume(self) -> None:
        """The single consumer of the engine's updates (connect, embed, follow)."""
        path = self.socket_path
        if self.embed == "always" or (self.embed == "auto" and not await _engine_listening(path)):
            embedded = await self._start_embedded()
            if embedded is None:
                return
            path = embedded
        self.live = live = LiveClient(path, client_name="panel")
        state = self.state
        loop = asyncio.get_running_loop()
        yielded = loop.time()
        try:
            async for update in live:
                kind = update.kind
                try:
                    state.apply(kind, update.data)
                except Exception as exc:  # a malformed update must not stop the feed
                    self._bad_updates += 1
                    if self._bad_updates <= 3:
                        self.notify(
                            f"{type(exc).__name__}: {exc}",
                            title=f"Ignored a malformed {kind!r} update",
                            severity="warning",
                        )
                if kind == "state" or kind == "snapshot":
                    # Connection changes and first data show at once; painting runs in
                    # the app's message loop, so a paint error can never stop the feed.
                    self.call_later(self._tick)
                # Never hog the loop while draining a backlog: input stays responsive.
                now = loop.time()
                if now - yielded > 0.005:
                    await asyncio.sleep(0)
                    yielded = loop.time()
        except Exception as exc:
            self.notify(
                f"{type(exc).__name__}: {exc}",
                title="Stopped following the engine",
                severity="error",
                timeout=30,
            )
            raise
        finally:
            state.set_connection("disconnected", "the panel stopped following the engine")
            await live.close()

    async def _start_embedded(self) -> Path | None:
        from flowdeck.panel.embedded import EmbeddedEngine

        self.state.embedded = True
        self.call_later(self._tick)
        await asyncio.sleep(0.05)  # let the first frame paint before the engine starts
        self.embedded = EmbeddedEngine(**self.embed_options)
        try:
            path = await self.embedded.start()
        except Exception as exc:
            self.notify(
                f"{type(exc).__name__}: {exc}",
                title="Embedded engine failed to start",
                severity="error",
                timeout=30,
            )
            self.state.set_connection("disconnected", f"embedded engine failed: {exc}")
            return None
        self.state.socket = str(path)
        if self.embed == "auto":
            text = (
                f"Nothing listens on {self.socket_path}: showing a demo engine with simulated "
                "providers. Start yours there (or use --socket PATH) to watch it."
            )
        else:
            text = "Showing a demo engine with simulated providers (--demo)."
        self.notify(
            text,
            title="Embedded demo engine",
            timeout=8,
        )
        return path

    async def on_unmount(self) -> None:
        if self.live is not None:
            await self.live.close()
        if self.embedded is not None:
            await self.embedded.stop()

    # ---- repainting -----------------------------------------------------------------------
    def _tick(self) -> None:
        """Repaint the header and the visible view (at most once per refresh tick)."""
        try:
            header = self.query_one(StatusHeader)
        except NoMatches:
            return
        header.paused = self.paused
        header.refresh_rate = self.refresh_rate
        header.update_from_state()
        stale = self.state.ever_connected and not self.state.connected
        tabs = self.query_one("#tabs", TabbedContent)
        if tabs.has_class("-stale") != stale:
            tabs.set_class(stale, "-stale")
        ro = self.state.read_only
        if ro != self._read_only_shown:
            self._read_only_shown = ro
            for view in self.query(View):
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
            tabs = self.query_one("#tabs", TabbedContent)
        except NoMatches:
            return None
        pane = tabs.active
        if not pane:
            return None
        try:
            return self.query_one(f"#view-{pane}", View)
        except (NoMatches, WrongType):
            return None

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        view = self.active_view
        if view is not None and not self.paused:
            view.refresh_view()

    # ---- selections (targets of the actions) ------------------------------------------
    def _selected(self, group: str, table_id: str) -> str | None:
        names = sorted(self.state.group(group))
        if not names:
            return None
        try:
            key = self.query_one(f"#{table_id}", LiveTable).selected_key
        except NoMatches:
            key = None
        return key if key in names else names[0]

    def selected_cache(self) -> str | None:
        return self._selected("caches", "cache-table")

    def selected_memory(self) -> str | None:
        return self._selected("memories", "memory-table")

    def selected_router(self) -> tuple[str | None, str | None]:
        routers = sorted(self.state.group("routers"))
        if not routers:
            return None, None
        try:
            sel = self.query_one("#view-routers", RoutersView).selected()
        except NoMatches:
            sel = None
        if sel and sel[0] in routers:
            return sel
        return routers[0], None

    # ---- actions: display ------------------------------------------------------------------
    def action_view(self, pane: str) -> None:
        """Show a view and focus its main widget (arrows select rows, s / S sort)."""
        tabs = self.query_one("#tabs", TabbedContent)
        if tabs.active != pane:
            # Let go of a widget in the old view first: Textual moves the focus of a
            # widget that gets hidden to a sibling in the same (hidden) pane, and
            # focusing inside a pane switches back to it, so the key would do nothing.
            self.screen.set_focus(None)
            tabs.active = pane
        try:
            target = self.query_one(f"#view-{pane}", View).primary()
        except (NoMatches, WrongType):
            target = None
        if target is not None:
            target.focus()

    def action_help(self) -> None:
        self.push_screen(HelpModal(self.state.read_only))

    def action_pause(self) -> None:
        """Freeze / unfreeze the display (the header shows PAUSED; data keeps arriving)."""
        self.paused = not self.paused
        self._tick()

    def _set_refresh(self, rate: float) -> None:
        rate = min(MAX_REFRESH, max(MIN_REFRESH, rate))
        self.refresh_rate = rate
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(rate, self._tick, name="repaint")
        self._tick()
        self.notify(f"Refresh every {rate:g} s", timeout=2)

    def action_faster(self) -> None:
        faster = [s for s in REFRESH_STEPS if s < self.refresh_rate - 1e-9]
        self._set_refresh(faster[-1] if faster else MIN_REFRESH)

    def action_slower(self) -> None:
        slower = [s for s in REFRESH_STEPS if s > self.refresh_rate + 1e-9]
        self._set_refresh(slower[0] if slower else MAX_REFRESH)

    def action_filter(self) -> None:
        view = self.active_view
        if view is None or not view.focus_filter():
            self.notify(
                "This view has no filter; the Caches, Routers, Memory and Events views do.",
                timeout=3,
            )

    def action_export(self) -> None:
        if not self.state.has_data:
            self.notify("Nothing to export yet: no snapshot received.", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path.cwd() / f"flowdeck-snapshot-{stamp}.json"
        n = 1
        while path.exists():
            n += 1
            path = Path.cwd() / f"flowdeck-snapshot-{stamp}-{n}.json"
        try:
            path.write_text(json.dumps(self.state.export(), indent=2, default=repr))
        except OSError as exc:
            self.notify(f"Could not write {path}: {exc}", title="Export failed", severity="error")
            return
        self.notify(str(path), title="Snapshot exported", timeout=8)

    # ---- read-only gating --------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in keys.MUTATING_ACTIONS and self.state.read_only:
            return None  # shown disabled in the footer; the key press is refused in on_key
        return True

    def on_key(self, event: events.Key) -> None:
        if not self.state.read_only:
            return
        for k in keys.KEYS:
            if k.mutating and event.key in k.keys.split(","):
                self.refuse(k.description)
                event.stop()
                return

    def refuse(self, what: str) -> None:
        why = (
            "the panel was started with --read-only"
            if self.state.read_only_flag
            else ("the engine is read-only")
        )
        self.notify(f"{what}: unavailable — {why}.", title="Read-only", severity="warning")

    # ---- talking to the engine ------------------------------------------------------------------
    def call_engine(
        self,
        method: str,
        params: dict[str, Any],
        describe: Callable[[Any], str],
        *,
        write: bool = True,
        then: Callable[[Any], None] | None = None,
    ) -> None:
        """Send one control call in the background and notify with the engine's answer."""
        if write and self.state.read_only:
            self.refuse(method)
            return
        self.run_worker(
            self._call(method, params, describe, then), group="calls", exit_on_error=False
        )

    async def _call(
        self,
        method: str,
        params: dict[str, Any],
        describe: Callable[[Any], str],
        then: Callable[[Any], None] | None,
    ) -> None:
        live = self.live
        if live is None or not live.connected:
            self.notify(
                f"{method} was not sent: not connected to the engine.",
                title="Disconnected",
                severity="error",
            )
            return
        try:
            result = await live.call(method, params)
        except ControlError as exc:
            self.notify(
                f"{exc.code}: {exc.message}",
                title=f"Engine refused {method}",
                severity="error",
                timeout=8,
            )
            return
        except (ConnectionLost, TimeoutError, OSError) as exc:
            self.notify(
                f"{method}: {exc or type(exc).__name__}",
                title="No answer",
                severity="error",
                timeout=8,
            )
            return
        self.state.apply_reply(method, result)  # the reply carries describe(): show it now
        self.notify(describe(result), title=f"Engine: {method} ok", timeout=5)
        if then is not None:
            then(result)

    # ---- actions: caches -------------------------------------------------------------------
    def _need(self, what: str, name: str | None) -> bool:
        if name is None:
            self.notify(f"The engine has no {what}.", severity="warning")
            return False
        return True

    def _may(self, refused: str, what: str, name: str | None) -> bool:
        """False, having said why, when read-only or when there is no ``what`` to act on."""
        if self.state.read_only:
            self.refuse(refused)
            return False
        return self._need(what, name)

    def action_flush(self) -> None:
        self.flush_cache(self.selected_cache())

    def action_flush_all(self) -> None:
        if self._need("cache", self.selected_cache()):
            self.flush_cache("*")

    def flush_cache(self, name: str | None) -> None:
        """Ask for confirmation, then flush one cache (or every cache for "*")."""
        if not self._may("Flush", "cache", name):
            return
        assert name is not None
        if name == "*":
            title = "Flush every cache?"
            names = sorted(self.state.group("caches"))
            msg = f"All entries of {len(names)} cache(s) ({', '.join(names)}) will be dropped."
        else:
            cache = self.state.group("caches").get(name, {})
            st = cache.get("stats") or {}
            title = f"Flush cache {name!r}?"
            where = "L1 and L2" if cache.get("l2") else "L1"
            msg = f"{fmt.num(st.get('size', 0))} entries will be dropped ({where})."

        def done(yes: bool | None) -> None:
            if yes:
                self.call_engine(P.CACHE_FLUSH, {"name": name}, _describe_flush)

        self.push_screen(ConfirmModal(title, msg, "Flush"), done)

    def action_set_ttl(self) -> None:
        self.ask_ttl(self.selected_cache())

    def ask_ttl(self, name: str | None) -> None:
        """Open the TTL modal for a cache; a valid value is sent to the engine."""
        if not self._may("Set TTL", "cache", name):
            return
        cache = self.state.group("caches").get(name or "", {})
        current = cache.get("ttl")
        shown = f"{current:g}" if isinstance(current, (int, float)) else ""

        def done(value: float | None) -> None:
            if value is not None:
                self.call_engine(
                    P.CACHE_SET_TTL,
                    {"name": name, "ttl": value},
                    lambda r: f"TTL of {name!r} is now {fmt.ttl(_ttl_of(r, value))}",
                )

        self.push_screen(
            NumberModal(
                f"Set the TTL of cache {name!r}",
                f"Seconds, e.g. 120 or 1.5 (now {fmt.ttl(current)}). Applies to entries "
                "already stored.",
                parse_ttl,
                shown,
            ),
            done,
        )

    def action_set_size(self) -> None:
        self.ask_size(self.selected_cache())

    def ask_size(self, name: str | None) -> None:
        """Open the max-size modal for a cache."""
        if not self._may("Set max size", "cache", name):
            return
        cache = self.state.group("caches").get(name or "", {})
        current = cache.get("max_size")

        def done(value: int | None) -> None:
            if value is not None:
                self.call_engine(
                    P.CACHE_SET_MAX_SIZE,
                    {"name": name, "max_size": value},
                    lambda r: f"Max size of {name!r} is now {value:,} entries",
                )

        self.push_screen(
            NumberModal(
                f"Set the max size of cache {name!r}",
                f"A whole number of entries > 0 (now {current}). Shrinking evicts the "
                "least recently used entries.",
                parse_size,
                str(current or ""),
            ),
            done,
        )

    # ---- actions: routers ------------------------------------------------------------------
    def action_pin(self) -> None:
        router, route = self.selected_router()
        self.ask_pin(router, route)

    def ask_pin(self, router: str | None, preselect: str | None = None) -> None:
        """Pick a route (or auto) for a router, then pin it."""
        if not self._may("Pin", "router", router):
            return
        r = self.state.group("routers").get(router or "", {})
        routes = list(r.get("routes") or (r.get("stats") or {}).get("routes") or [])
        providers = r.get("providers") or {}
        options = [(AUTO, "auto — let the selector choose (unpin)")]
        for route in routes:
            prov = providers.get(route)
            label = route + (f"  ({' → '.join(prov)})" if prov else "")
            if route == r.get("pin"):
                label += "  [pinned now]"
            options.append((route, label))
        current = r.get("pin") or preselect or AUTO

        def done(choice: str | None) -> None:
            if choice is not None:
                self.pin(router, None if choice == AUTO else choice)

        self.push_screen(
            PickModal(
                f"Pin router {router!r}",
                "Every request goes to the pinned route.",
                options,
                current,
            ),
            done,
        )

    def pin(self, router: str | None, route: str | None) -> None:
        """Pin ``router`` to ``route`` (None = auto)."""
        if not self._need("router", router):
            return
        self.call_engine(
            P.ROUTER_PIN,
            {"name": router, "route": route},
            lambda r: (
                f"Router {router!r} "
                + (f"pinned to {route!r}" if route else "back to auto (selector)")
            ),
        )

    def action_unpin(self) -> None:
        router, _ = self.selected_router()
        if self._may("Unpin", "router", router):
            self.pin(router, None)

    def action_remap(self) -> None:
        router, route = self.selected_router()
        self.ask_remap(router, route)

    @work(group="dialogs", exclusive=True)
    async def ask_remap(self, router: str | None, route: str | None = None) -> None:
        """Pick a provider-backed route, then the provider to put first."""
        if not self._may("Re-map", "router", router):
            return
        r = self.state.group("routers").get(router or "", {})
        mapping = {k: v for k, v in (r.get("providers") or {}).items() if v}
        if not mapping:
            self.notify(
                f"Router {router!r} has no provider-backed routes to re-map.", severity="warning"
            )
            return
        if route not in mapping:
            route = await self.push_screen_wait(
                PickModal(
                    f"Re-map a route of {router!r}",
                    "Pick the route (tier) whose provider you want to change.",
                    [(k, f"{k}  ({' → '.join(v)})") for k, v in mapping.items()],
                    next(iter(mapping)),
                )
            )
            if route is None:
                return
        providers = sorted(self.state.group("providers"))
        if not providers:
            self.notify("The engine reports no providers.", severity="warning")
            return
        current = mapping[route][0]
        options = []
        for name in providers:
            p = self.state.group("providers")[name]
            label = (
                f"{name}  ({p.get('kind', '?')}, {p.get('model', '?')}, p50 "
                f"{fmt.secs(p.get('p50'))})"
            )
            if name == current:
                label += "  [first now]"
            options.append((name, label))
        provider = await self.push_screen_wait(
            PickModal(
                f"Re-map {router}/{route} to a provider",
                f"The chosen provider goes first; the current list ({' → '.join(mapping[route])})"
                " stays as fallback.",
                options,
                current,
            )
        )
        if provider is None:
            return
        self.call_engine(
            P.ROUTER_SET_MODEL,
            {"name": router, "route": route, "provider": provider},
            lambda res: (
                f"{router}/{route} now calls "
                + " → ".join((((res or {}).get("providers") or {}).get(route)) or [provider])
            ),
        )

    # ---- actions: memory ---------------------------------------------------------------------
    def action_clear_memory(self) -> None:
        self.clear_memory(self.selected_memory())

    def clear_memory(self, name: str | None) -> None:
        """Confirm, then clear a memory namespace."""
        if not self._may("Clear memory", "memory", name):
            return
        m = self.state.group("memories").get(name or "", {})
        size = (m.get("stats") or {}).get("size", 0)

        def done(yes: bool | None) -> None:
            if yes:
                self.call_engine(
                    P.MEMORY_CLEAR,
                    {"name": name},
                    lambda r: (
                        f"Memory {name!r} cleared "
                        f"({_count_of((r or {}).get('cleared', {}).get(name))} entries)"
                    ),
                )

        self.push_screen(
            ConfirmModal(
                f"Clear memory {name!r}?",
                f"{fmt.num(size)} entries of namespace "
                f"{m.get('namespace', name)!r} will be deleted.",
                "Clear",
            ),
            done,
        )

    def search_memory(self, query: str) -> None:
        """Ask the engine to search the selected memory; show the results in its view."""
        name = self.selected_memory()
        if not self._need("memory", name):
            return
        view = self.query_one("#view-memory", MemoryView)

        def show(result: Any) -> None:
            view.show_results(format_results(name or "", query, result))

        self.call_engine(
            P.MEMORY_SEARCH,
            {"name": name, "keywords": query, "limit": 20},
            lambda r: f"{len((r or {}).get('results') or [])} result(s) in {name!r}",
            write=False,
            then=show,
        )


async def _engine_listening(path: Path) -> bool:
    """True if an engine accepts connections on ``path`` (False: start the demo)."""
    try:
        client = await ControlClient.connect(path, timeout=1.0)
    except EngineNotRunning:
        return False
    except ConnectionLost:
        return True  # something is there but odd: let the LiveClient report it
    await client.close()
    return True


def _describe_flush(result: Any) -> str:
    flushed = (result or {}).get("flushed") or {}
    parts = []
    for name, r in flushed.items():
        parts.append(f"{name}: {_count_of(r)}")
    return "Flushed " + (", ".join(parts) if parts else "nothing")


def _count_of(r: Any) -> str:
    if isinstance(r, dict):
        l1, l2 = r.get("l1"), r.get("l2")
        if l2 is None and l1 is not None:
            return f"{l1} entries"
        if l1 is not None or l2 is not None:
            return f"{l1 or 0} in L1 + {l2 or 0} in L2"
        for key in ("count", "cleared", "flushed", "removed"):
            if key in r:
                return str(r[key])
        return ", ".join(f"{k} {v}" for k, v in r.items())
    return "?" if r is None else str(r)


def _ttl_of(result: Any, fallback: float) -> float:
    if isinstance(result, dict) and isinstance(result.get("ttl"), (int, float)):
        return float(result["ttl"])
    return fallback
