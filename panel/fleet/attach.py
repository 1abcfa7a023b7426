"""Which engine the panel shows: discovery at start, the Fleet view, switching engines.

No explicit socket: 0 live engines -> the embedded demo (and a note with a one-key
switch when a real engine appears later); 1 -> attach; 2 or more -> the Fleet view,
whose Enter picks the engine to attach to. ``0`` returns to the Fleet view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flowdeck.engine.control import discovery as D
from flowdeck.panel.fleet.feed import FleetFeed
from flowdeck.panel.fleet.redis_feed import RedisFleetFeed
from flowdeck.panel.fleet.screen import FleetScreen
from flowdeck.panel.state import PanelState

if TYPE_CHECKING:
    from flowdeck.panel.app import FlowdeckApp


FOUND = "Engine found"
"""The title of the toast that says a real engine appeared while the demo runs."""


async def initial_target(app: FlowdeckApp) -> Path | None:
    """The socket to attach to at start; None: nothing live here (the caller's default)."""
    if app.redis_url is not None:
        return await show_fleet(app)  # every host: the Fleet view first
    try:
        engines = await D.discover()
    except D.DiscoveryError as exc:
        app.notify(str(exc), title="Cannot list this host's engines", severity="error")
        return None
    if app.engine_selector is not None:
        try:
            return position(app, D.select(engines, app.engine_selector), engines)
        except D.SelectorError as exc:  # it went between the command line's check and now
            app.notify(str(exc), title="--engine", severity="error", timeout=15)
            return await show_fleet(app)  # what there is, never the demo instead
    if not engines:
        watch_for_engines(app)
        return None
    if len(engines) == 1:
        # The host's engines are watched anyway, so that if this one goes (a restart
        # comes back on a new socket) the header can say so and offer the new one.
        app.fleet = FleetFeed()
        app.fleet.start()
        return engines[0].socket
    return await show_fleet(app)


def position(app: FlowdeckApp, chosen: D.LiveEngine, engines: list[D.LiveEngine]) -> Path:
    ordered = sorted(engines, key=lambda e: (e.name, e.pid))
    index = next(i for i, e in enumerate(ordered) if e.id == chosen.id)
    app.fleet_position = (index + 1, len(ordered))
    return chosen.socket


def live_position(app: FlowdeckApp) -> tuple[int | None, int] | None:
    """Where the engine shown stands in the fleet now, for the header: (k, n) of the n
    live engines, k None once it left; None when it was not opened from a fleet."""
    feed = app.fleet
    if feed is None or app.state.embedded:
        return app.fleet_position
    members = feed.ordered()
    shown = app.state.engine.get("id")
    if app.fleet_position is None:  # attached as the host's only engine: gone or not
        st = app.state
        ids = {m.engine.id for m in members}
        left = shown in feed.departed or (feed.scans and shown not in ids)
        return (None, len(members)) if left and st.ever_connected and not st.connected else None
    k = next((i + 1 for i, m in enumerate(members) if m.engine.id == shown), None)
    if k is None and shown not in feed.departed and not feed.scans:
        return app.fleet_position  # not scanned yet: what the Fleet view said
    return k, len(members)


async def show_fleet(app: FlowdeckApp, can_go_back: bool = False) -> Path | None:
    """Show the Fleet view until the operator picks an engine; its socket (None: they
    went back to the engine shown, or there was none)."""
    feed = app.fleet
    if feed is None:
        feed = app.fleet = new_feed(app)
        feed.start()
    shown = app.state.engine.get("id") if can_go_back else None
    screen = FleetScreen(
        feed,
        refresh=app.fleet_refresh or app.refresh_rate,
        read_only=app.state.read_only,
        can_go_back=can_go_back,
        highlight=shown if isinstance(shown, str) else None,
    )
    chosen = await app.push_screen_wait(screen)
    if chosen is None:
        return None
    if screen.open_view is not None:  # a digit: the engine opens on that view
        app.call_later(app.action_view, screen.open_view)
    members = feed.ordered()
    index = next((i for i, m in enumerate(members) if str(m.engine.socket) == chosen), 0)
    app.fleet_position = (index + 1, len(members))
    reset_state(app, Path(chosen))
    return Path(chosen)


def new_feed(app: FlowdeckApp) -> FleetFeed | RedisFleetFeed:
    if app.redis_url is not None:
        return RedisFleetFeed(app.redis_url, app.fleet_name)
    return FleetFeed()


def reset_state(app: FlowdeckApp, path: Path) -> None:
    """Forget the previous engine's data (views keep the same state object)."""
    read_only = app.state.read_only_flag
    PanelState.__init__(app.state, socket=str(path), read_only=read_only)


def watch_for_engines(app: FlowdeckApp) -> None:
    """While the demo runs: say when real engines appear on this host (once per count)."""
    feed = app.fleet = FleetFeed()
    feed.start()
    said = 0

    def check() -> None:
        nonlocal said
        n = len(feed.members)
        if n > said:
            said = n
            if n == 1:
                m = feed.ordered()[0]
                text = f"An engine started on this host: {m.engine.label()}. Press 0 to switch."
            else:
                text = f"{n} engines run on this host now. Press 0 to see them in the Fleet view."
            app.notify(text, title=FOUND, timeout=30)

    app.set_interval(1.0, check, name="fleet-watch")


def back_to_fleet(app: FlowdeckApp) -> None:
    """The ``0`` key: the Fleet view; from the demo with one real engine, straight to it."""
    feed = app.fleet
    members = 0 if feed is None else len(feed.members)
    if app.state.embedded and members == 0:
        app.notify(f"No engine runs on this host yet (searched {D.runtime_dir()}/).", title="Fleet")
        return

    app.withdraw(FOUND)  # "press 0 to switch": done

    async def back() -> None:
        # The engine shown stays followed until another is picked: Escape in the Fleet
        # view goes back to it, live (the feed is replaced only below).
        path: Path | None
        if feed is not None and app.state.embedded and members == 1:
            path = feed.ordered()[0].engine.socket
            app.fleet_position = None
            reset_state(app, path)
        else:
            # Escape goes back to the engine shown, unless it has left the fleet.
            where = live_position(app)
            gone = where is not None and where[0] is None
            path = await show_fleet(app, can_go_back=app.state.ever_connected and not gone)
        if path is not None:
            app.run_worker(app.feed.run(path), group="live", exclusive=True, exit_on_error=False)

    app.run_worker(back(), group="fleet", exclusive=True, exit_on_error=False)
