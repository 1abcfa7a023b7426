"""``panel --redis``: the Fleet view of every host of one Redis, under Pilot.

Real redis-server, engines in subprocesses: two demo workers of "host-a" with sockets
in a private runtime dir (one read-only), one engine of "host-b" without a socket (a
remote one: only its heartbeat is reachable), and one on another database (not shown).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from flowdeck.engine.fleet.sender import FleetSender
from flowdeck.panel.__main__ import main as panel_main
from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.fleet.redis_feed import RedisFleetFeed
from flowdeck.panel.fleet.remote import RemoteEngineScreen
from flowdeck.panel.fleet.screen import FleetScreen
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from tests.support.fleet import Workers
from tests.support.panel import notes
from tests.support.redis_fleet import spawn_engine, unique_fleet
from tests.support.redis_server import RedisServer
from tests.support.waiting import until


@pytest.fixture
def remote_procs() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.kill()
        p.wait(20)
        if p.stdout is not None:
            p.stdout.close()


def _fleet(app: FlowdeckApp) -> FleetScreen:
    assert isinstance(app.screen, FleetScreen), type(app.screen).__name__
    return app.screen


def test_bad_redis_url_or_fleet_name_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv, says in (
        (["--redis", "http://user:hunter2@h:1/0"], "not a redis://"),
        (["--redis", "redis://127.0.0.1:1/0", "--fleet", "a:b"], "fleet must be"),
    ):
        with pytest.raises(SystemExit) as exit_:
            panel_main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert says in err and "hunter2" not in err, err


async def test_fleet_view_over_redis_shows_every_host_acts_and_drills(
    redis_server: RedisServer,
    workers: Workers,
    remote_procs: list[subprocess.Popen[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = unique_fleet("panel")
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    env = {
        "FLOWDECK_REDIS_URL": url,
        "FLOWDECK_FLEET": fleet,
        "FLOWDECK_HOST": "host-a",
        "FLOWDECK_FLEET_INTERVAL": "0.2",
    }
    a1 = workers.start(env=env)
    a2 = workers.start("--read-only", env=env)
    remote = spawn_engine(url, fleet, "host-b", ttl=60)
    remote_procs.append(remote)
    other_db = spawn_engine(f"redis://127.0.0.1:{redis_server.port}/1", fleet, "host-c")
    remote_procs.append(other_db)
    assert remote.stdout is not None
    remote_id = remote.stdout.readline().strip()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "nothing-here"))  # no local discovery

    app = FlowdeckApp(refresh=0.2, user_theme_dir=tmp_path / "themes", redis=url, fleet=fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: isinstance(app.screen, FleetScreen), 60)
        screen = _fleet(app)
        feed = screen.feed
        assert isinstance(feed, RedisFleetFeed)
        await until(lambda: len(feed.members) == 3, 60)
        rows = feed.rows()
        assert sorted((r["host"], r["pid"]) for r in rows) == sorted(
            [("host-a", a1.pid), ("host-a", a2.pid), ("host-b", remote.pid)]
        )
        assert "3 engines on 2 hosts" in screen.header_text() and fleet in screen.header_text()
        table = screen.query_one("#fleet-engines", DataTable)
        await until(lambda: table.row_count == 3, 30)
        assert {table.get_cell(str(r["id"]), "host").text for r in rows} == {"host-a", "host-b"}
        await until(lambda: all("llm" in m.stats["caches"] for m in feed.ordered()), 30)
        want_llm = sum(m.stats["caches"]["llm"]["size"] for m in feed.ordered())
        assert feed.totals()["caches"]["llm"]["engines"] == 3
        assert feed.totals()["caches"]["llm"]["size"] == want_llm

        # A fleet TTL: acknowledged per engine, the read-only one named; it sticks
        totals = screen.query_one("#fleet-totals", DataTable)
        await until(lambda: "cache:llm" in totals.rows, 30)
        app.set_focus(totals)
        totals.move_cursor(row=totals.get_row_index("cache:llm"))
        await pilot.press("t")
        await until(lambda: isinstance(app.screen, NumberModal), 30)
        app.screen.query_one(Input).value = "42"
        await pilot.press("enter")
        await until(lambda: "on 3 engines (1 is" in str(getattr(app.screen, "help_text", "")))
        await pilot.press("y")
        want = f"applied on 2 of 3; host-a pid {a2.pid}: read_only"
        await until(lambda: any(want in n for n in notes(app)), 30)
        sender = FleetSender.from_url(url, fleet)
        try:
            assert (await sender.overrides())["cache:llm:ttl"]["params"]["ttl"] == 42
            # o: the overrides in force; dropping one returns every engine to its config
            await until(lambda: isinstance(app.screen, FleetScreen), 30)
            await pilot.press("v")
            await until(lambda: isinstance(app.screen, PickModal), 30)
            app.screen.dismiss("cache:llm:ttl")
            await until(lambda: "cache:llm:ttl" in str(getattr(app.screen, "help_text", "")))
            await pilot.press("y")
            await until(lambda: any("Dropped cache:llm:ttl" in n for n in notes(app)), 30)
            assert "cache:llm:ttl" not in await sender.overrides()
        finally:
            await sender.close()

        # The remote engine: its heartbeat view, saying so; back with escape
        app.set_focus(table)
        table.move_cursor(row=table.get_row_index(remote_id))
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RemoteEngineScreen), 30)
        await until(
            lambda: "remote (heartbeats)" in str(app.screen.query_one("#remote-header").render())
        )
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)

        # A stopped engine turns stale, then leaves when its heartbeat expires
        os.kill(remote.pid, signal.SIGSTOP)
        await until(lambda: feed.members[remote_id].level() == "stale", 30)
        await until(lambda: remote_id not in feed.members, 30)
        os.kill(remote.pid, signal.SIGCONT)

        # An engine of this host: Enter attaches to its socket (every view, live events)
        a1_id = next(r["id"] for r in feed.rows() if r["pid"] == a1.pid)
        app.set_focus(table)
        await until(lambda: a1_id in table.rows, 30)
        table.move_cursor(row=table.get_row_index(a1_id))
        await pilot.press("enter")
        await until(lambda: app.state.connected and app.state.engine.get("id") == a1_id, 60)
        assert app.state.socket == str(workers.socket_of(a1))
        await pilot.press("0")
        await until(lambda: isinstance(app.screen, FleetScreen), 30)
        await pilot.press("q")


async def test_engines_back_after_a_redis_restart_are_live_rows_not_gone_ones(
    redis_proc: RedisServer, remote_procs: list[subprocess.Popen[str]]
) -> None:
    """Redis restarted empty: every heartbeat is lost for a beat, so the engines leave
    and come back. They were then listed twice for a minute, live and "gone" (QA:
    "2 engines · 2 gone", the rows greyed while ls --redis saw fresh beats)."""
    fleet = unique_fleet("back")
    proc = spawn_engine(redis_proc.url, fleet, "host-a")
    remote_procs.append(proc)
    assert proc.stdout is not None
    eid = proc.stdout.readline().strip()
    feed = RedisFleetFeed(redis_proc.url, fleet)
    feed.rescan = 0.2
    feed.start()
    try:
        await until(lambda: eid in feed.members, 30)
        os.kill(proc.pid, signal.SIGSTOP)  # no beat until the feed has read Redis empty
        redis_proc.restart()  # --save '': it comes back with nothing
        await until(lambda: eid in feed.departed, 30)
        os.kill(proc.pid, signal.SIGCONT)
        await until(lambda: eid in feed.members, 30)
        rows = feed.rows()
        assert [r["level"] for r in rows if r["id"] == eid] in (["ok"], ["late"]), rows
        assert eid not in feed.departed
    finally:
        await feed.stop()
