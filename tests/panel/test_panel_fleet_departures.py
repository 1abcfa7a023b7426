"""Workers that die while the panel watches (subprocess engines, private runtime dir):
the header's "engine k of n" follows the fleet, the Fleet view keeps a gone row for a
while, and the banner of an attached engine that died says so and shows the way out."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from textual.widgets import DataTable

from flowdeck.panel import fmt
from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.fleet.screen import FleetScreen
from tests.support.fleet import Workers
from tests.support.panel import header_text, notes
from tests.support.waiting import until


def _fleet(app: FlowdeckApp) -> FleetScreen:
    assert isinstance(app.screen, FleetScreen), type(app.screen).__name__
    return app.screen


async def test_dead_workers_show_as_gone_in_header_fleet_view_and_banner(
    workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    procs = [workers.start() for _ in range(3)]
    await until(lambda: len(workers.sockets()) == 3, 60)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(workers.base))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    first, middle, last = sorted(procs, key=lambda p: p.pid)  # the Fleet view's order
    app = FlowdeckApp(refresh=0.2, user_theme_dir=tmp_path / "themes")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(lambda: isinstance(app.screen, FleetScreen), 60)
        await until(lambda: len(_fleet(app).feed.members) == 3, 60)
        engines = _fleet(app).query_one("#fleet-engines", DataTable)
        await until(lambda: engines.row_count == 3, 30)
        app.set_focus(engines)
        engines.move_cursor(row=0)
        await pilot.press("enter")  # the first engine
        await until(lambda: app.state.connected and app.state.engine.get("pid") == first.pid, 60)
        await until(lambda: "engine 1 of 3" in header_text(app), 30)

        # Another worker dies: the header counts the live ones.
        middle.send_signal(signal.SIGKILL)
        await until(lambda: "engine 1 of 2" in header_text(app), 30)

        # The Fleet view keeps its row, greyed, saying since when it is gone.
        await pilot.press("0")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        fleet = _fleet(app)
        rows = {r["pid"]: r for r in fleet.feed.rows()}
        assert rows[middle.pid]["level"] == "gone"
        assert [r["level"] for r in rows.values()].count("gone") == 1
        assert fleet.header_text().startswith(" fleet · 2 engines · 1 gone")
        engines = fleet.query_one("#fleet-engines", DataTable)
        await until(lambda: engines.row_count == 3, 30)
        gone_row = [str(k.value) for k in engines.rows].index(rows[middle.pid]["id"])
        assert gone_row == 2  # below the live engines
        assert "gone" in str(engines.get_row_at(gone_row)[-1])
        # The totals are over the live engines only; Enter on the gone row says why
        # nothing opens.
        assert {t["engines"] for t in fleet.feed.totals()["caches"].values()} == {2}
        app.set_focus(engines)
        engines.move_cursor(row=gone_row)
        await pilot.press("enter")
        await until(lambda: any("is no longer running" in n for n in notes(app)), 30)
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("escape")  # back to the engine shown
        await until(lambda: not isinstance(app.screen, FleetScreen), 30)

        # The attached engine dies: the banner names it and the way back, in 80 columns.
        first.send_signal(signal.SIGTERM)
        await until(lambda: "ENGINE GONE" in header_text(app), 30)
        banner = header_text(app)
        assert f"pid {first.pid}" in banner
        assert "0: fleet view (1 live)" in banner
        assert fmt.cells(banner) <= 80
        await pilot.press("0")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        assert _fleet(app).header_text().startswith(" fleet · 1 engine · 2 gone")
        assert last.poll() is None


async def test_the_only_engine_restarted_on_a_new_socket_is_offered_not_retried(
    workers: Workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attached straight to the host's only engine (no Fleet view): when it goes, the
    banner says it is gone rather than retrying its socket, and counts the engine that
    came back in its place (a restart is a new process on a new socket)."""
    old = workers.start()
    await until(lambda: len(workers.sockets()) == 1, 60)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(workers.base))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    app = FlowdeckApp(refresh=0.2, user_theme_dir=tmp_path / "themes")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.state.connected and app.state.engine.get("pid") == old.pid, 60)
        assert app.fleet_position is None and "of 1" not in header_text(app)
        old.send_signal(signal.SIGTERM)
        await until(lambda: "ENGINE GONE" in header_text(app), 30)
        assert f"pid {old.pid}" in header_text(app) and "retrying" not in header_text(app)
        assert "0: fleet view (0 live)" in header_text(app)
        new = workers.start()
        await until(lambda: "0: fleet view (1 live)" in header_text(app), 60)
        await pilot.press("0")  # the Fleet view: the new engine, and the old one gone
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        rows = {r["pid"]: r["level"] for r in _fleet(app).feed.rows()}
        assert rows[old.pid] == "gone" and rows[new.pid] != "gone"
