"""Fleet view actions and the demo's switch, under Pilot against engines in subprocesses.

Workers are ``flowdeck serve --demo`` processes in a private ``XDG_RUNTIME_DIR`` (one of
them ``--read-only``); the panel finds them by discovery, as an operator's would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList

from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ControlClient
from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.fleet.screen import FleetScreen
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from tests.support.fleet import Workers
from tests.support.panel import modal_title, notes
from tests.support.waiting import until


async def snapshot_of(sock: Path) -> dict[str, Any]:
    client = await ControlClient.connect(sock, 5.0)
    try:
        snap: dict[str, Any] = await client.call(P.SNAPSHOT, {}, 10.0)
        return snap
    finally:
        await client.close()


def _fleet(app: FlowdeckApp) -> FleetScreen:
    assert isinstance(app.screen, FleetScreen), type(app.screen).__name__
    return app.screen


async def _highlight(pilot: Pilot[None], app: FlowdeckApp, key: str) -> None:
    totals = _fleet(app).query_one("#fleet-totals", DataTable)
    await until(lambda: key in totals.rows, 30)
    app.set_focus(totals)
    totals.move_cursor(row=totals.get_row_index(key))
    await pilot.pause()


async def _confirm(pilot: Pilot[None], app: FlowdeckApp, engines: str) -> None:
    await until(lambda: engines in str(getattr(app.screen, "help_text", "")), 30)
    await pilot.press("y")
    await until(lambda: isinstance(app.screen, FleetScreen), 30)


async def test_fleet_actions_reach_every_engine_and_name_the_refusal(
    workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    procs = [workers.start(), workers.start(), workers.start("--read-only")]
    await until(lambda: len(workers.sockets()) == 3, 60)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(workers.base))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    ro = procs[2].pid
    app = FlowdeckApp(refresh=0.2, user_theme_dir=tmp_path / "themes")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, FleetScreen), 60)
        fleet = _fleet(app)
        await until(lambda: all(m.stats for m in fleet.feed.ordered()), 60)
        await until(lambda: len(fleet.feed.members) == 3, 60)
        totals = fleet.query_one("#fleet-totals", DataTable)
        # totals keep one order: kind, then name (never the order engines answered in)
        await until(lambda: len(totals.rows) == 4, 30)
        keys = [str(k.value) for k in totals.rows]
        assert keys == ["cache:fanout-cache", "cache:llm", "memory:conversations", "router:tiers"]

        # TTL: a value, then a confirmation naming 3 engines and the read-only one
        await _highlight(pilot, app, "cache:llm")
        await pilot.press("enter")  # nothing to open on a total: it says what acts on it
        await until(lambda: any("f flush · t TTL" in n for n in notes(app)), 30)
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("t")
        await until(lambda: isinstance(app.screen, NumberModal), 30)
        assert "on 3 engines" in modal_title(app)
        app.screen.query_one(Input).value = "42"
        await pilot.press("enter")
        await _confirm(pilot, app, "on 3 engines (1 is read-only and will refuse)")
        want = f"applied on 2 of 3; pid {ro}: read_only"
        await until(lambda: any(want in n for n in notes(app)), 30)
        for proc in procs:
            snap = await snapshot_of(workers.socket_of(proc))
            ttl = snap["caches"]["llm"]["ttl"]
            assert ttl == (600 if proc.pid == ro else 42), (proc.pid, ttl)
        # asked again, the dialog says what the engines have now (they differ)
        await pilot.press("t")
        await until(lambda: isinstance(app.screen, NumberModal), 30)
        modal = app.screen
        assert isinstance(modal, NumberModal)
        assert "(now 42s on 2, 10m00s on 1)" in modal.help_text
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)

        # Pin the router to a route, then back to auto
        await _highlight(pilot, app, "router:tiers")
        await pilot.press("r")
        await until(lambda: isinstance(app.screen, PickModal), 30)
        picker = app.screen.query_one(OptionList)
        listed = [str(picker.get_option_at_index(i).id) for i in range(picker.option_count)]
        assert listed[1:] == ["fast", "balanced", "quality"]  # the configured order, after auto
        route = "balanced"
        app.screen.dismiss(route)  # the operator picks a route in the list
        await _confirm(pilot, app, "on 3 engines")
        await until(lambda: sum(want.split(";")[0] in n for n in notes(app)) >= 2, 30)
        pins = [(await snapshot_of(workers.socket_of(p)))["routers"]["tiers"]["pin"] for p in procs]
        assert pins == [route, route, None]

        def pinned_in_stats() -> list[Any]:
            return [m.stats["routers"]["tiers"].get("pinned") for m in fleet.feed.ordered()]

        await until(lambda: pinned_in_stats().count(route) == 2, 30)  # stats carry the pin
        await pilot.press("a")
        await _confirm(pilot, app, "on 3 engines")
        await until(lambda: sum(want.split(";")[0] in n for n in notes(app)) >= 3, 30)
        pins = [(await snapshot_of(workers.socket_of(p)))["routers"]["tiers"]["pin"] for p in procs]
        assert pins == [None, None, None]
        # Auto again: every engine says it is automatic, so nothing is sent or audited.
        await until(lambda: pinned_in_stats() == [None, None, None], 30)
        await pilot.press("a")
        await until(lambda: any("automatic on every engine already" in n for n in notes(app)), 30)
        assert isinstance(app.screen, FleetScreen)
        app.clear_notifications()  # at most 4 toasts show: count the next ones afresh

        # Memory clear: the memory total is a row of its own
        await _highlight(pilot, app, "memory:conversations")
        await pilot.press("c")
        await _confirm(pilot, app, "on 3 engines")
        await until(lambda: any(want.split(";")[0] in n for n in notes(app)), 30)

        # An action on the wrong kind of row says what to highlight
        await _highlight(pilot, app, "router:tiers")
        await pilot.press("m")
        await until(lambda: any("highlight a cache" in n for n in notes(app)), 30)
        await pilot.press("q")


async def test_demo_says_where_it_looked_and_switches_to_a_new_engine_with_one_key(
    workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(workers.base))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    app = FlowdeckApp(
        refresh=0.2,
        user_theme_dir=tmp_path / "themes",
        embed_options={"latency_scale": 0.02, "concurrency": 2},
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.state.embedded and app.state.connected, 60)
        assert any(f"searched {workers.runtime}/" in n for n in notes(app)), notes(app)
        proc = workers.start()
        await until(lambda: any("Press 0 to switch" in n for n in notes(app)), 60)
        await pilot.press("0")
        sock = workers.socket_of(proc)
        await until(lambda: app.state.connected and app.state.socket == str(sock), 60)
        assert not app.state.embedded and app.feed.embedded is None
        assert app.state.engine.get("pid") == proc.pid
        assert not any("Press 0 to switch" in n for n in notes(app))  # done: the toast went
        await pilot.press("q")


async def test_fleet_weights_restore_and_provider_levers_reach_every_engine(
    workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    procs = [workers.start(), workers.start()]
    await until(lambda: len(workers.sockets()) == 2, 60)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(workers.base))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    app = FlowdeckApp(refresh=0.2, user_theme_dir=tmp_path / "themes")

    async def on_all(check: Any) -> bool:
        snaps = [await snapshot_of(workers.socket_of(p)) for p in procs]
        return all(check(s) for s in snaps)

    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, FleetScreen), 60)
        fleet = _fleet(app)
        await until(
            lambda: len(fleet.feed.members) == 2 and all(m.stats for m in fleet.feed.ordered()), 60
        )

        # weights: a bad entry is refused in the dialog, a good one reaches both engines
        await _highlight(pilot, app, "router:tiers")
        await pilot.press("w")
        await until(lambda: isinstance(app.screen, NumberModal), 30)
        assert "on 2 engines" in modal_title(app)
        box = app.screen.query_one(Input)
        box.value = "fast=90 nope=10"
        await pilot.press("enter")
        await until(
            lambda: (
                isinstance(app.screen, NumberModal)
                and "nope" in str(app.screen.query_one("#error").render())
            )
        )
        box.value = "fast=90 balanced=10"
        await pilot.press("enter")
        await _confirm(pilot, app, "on 2 engines")
        await until(lambda: any("applied on 2 of 2" in n for n in notes(app)), 30)
        assert await on_all(lambda s: s["routers"]["tiers"]["weights"]["fast"] == 90)

        # restore every route after a re-map on one engine
        client = await ControlClient.connect(workers.socket_of(procs[0]), 5.0)
        try:
            await client.call(
                P.ROUTER_SET_MODEL, {"name": "tiers", "route": "fast", "provider": "sim-gamma"}, 5.0
            )
        finally:
            await client.close()
        await pilot.press("o")
        await until(lambda: isinstance(app.screen, PickModal), 30)
        app.screen.dismiss("\x00every")
        await _confirm(pilot, app, "on 2 engines")
        await until(lambda: sum("applied on 2 of 2" in n for n in notes(app)) >= 2, 30)
        assert await on_all(lambda s: s["routers"]["tiers"]["providers"]["fast"] == ["sim-mini"])

        # drain a provider on every engine, then end the cooldown (offered first)
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, PickModal), 30)
        app.screen.dismiss("sim-mini")
        await until(lambda: isinstance(app.screen, NumberModal), 30)
        assert "on 2 engines" in modal_title(app)  # as every fleet dialog says
        app.screen.query_one(Input).value = "10m"
        await pilot.press("enter")
        await _confirm(pilot, app, "on 2 engines")
        await until(lambda: sum("applied on 2 of 2" in n for n in notes(app)) >= 3, 30)
        assert await on_all(lambda s: s["providers"]["sim-mini"]["state"] == "cooling down")
        await until(
            lambda: all(
                m.stats["providers"]["sim-mini"]["state"] == "cooling down"
                for m in fleet.feed.ordered()
            ),
            30,
        )
        await pilot.press("u")
        await until(lambda: isinstance(app.screen, PickModal), 30)
        options = app.screen.query_one("OptionList", OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "sim-mini — cooling down on 2 of 2" in labels[0]
        assert all("cooling down on" in label for label in labels)  # only those to end
        app.screen.dismiss("sim-mini")
        await _confirm(pilot, app, "on 2 engines")
        await until(lambda: sum("applied on 2 of 2" in n for n in notes(app)) >= 4, 30)
        assert await on_all(lambda s: s["providers"]["sim-mini"]["state"] != "cooling down")
