"""Engines without an explicit socket each bind <name>.<pid>.sock; discovery lists them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flowdeck.engine import Engine
from flowdeck.engine.control import discovery as D
from flowdeck.engine.control.client import ControlClient
from flowdeck.engine.errors import EngineAlreadyRunning
from tests.support.control import control_settings


@pytest.fixture
def runtime(sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(sock_dir))
    monkeypatch.delenv("FLOWDECK_SOCKET", raising=False)
    return sock_dir / "flowdeck"


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


async def test_engines_without_a_socket_each_get_their_own(runtime: Path) -> None:
    async with (
        Engine(control_settings(runtime, socket=None, name="web")) as a,
        Engine(control_settings(runtime, socket=None, name="web")) as b,
    ):
        pid = os.getpid()
        assert a.control.path == runtime / f"web.{pid}.sock"
        assert b.control.path == runtime / f"web.{pid}.1.sock"
        c = await ControlClient.connect(b.control.path)
        hello, snap = await c.hello(), await c.snapshot()
        await c.close()
        for ident in (hello, snap["engine"]):
            assert ident["id"] == b.id and ident["id"] != a.id and len(b.id) == 16
            assert ident["name"] == "web" and ident["pid"] == pid
            assert ident["host"] == socket.gethostname()
            assert ident["started_at"] == b.started_at and ident["version"]
            assert ident["socket"] == str(b.control.path)
        live = await D.discover(runtime)
        assert sorted(e.id for e in live) == sorted([a.id, b.id])
    assert await D.discover(runtime) == []


async def test_host_setting_is_reported(runtime: Path) -> None:
    async with Engine(control_settings(runtime, socket=None, host="web-3")) as eng:
        (live,) = await D.discover(runtime)
        assert live.host == "web-3" and live.pid == os.getpid() and live.id == eng.id


async def test_explicit_socket_taken_names_the_setting_used(
    sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Engine(control_settings(sock_path)):
        with pytest.raises(
            EngineAlreadyRunning, match=r"already listening.*change the socket setting"
        ):
            await Engine(control_settings(sock_path)).start()
        monkeypatch.setenv("FLOWDECK_SOCKET", str(sock_path))
        with pytest.raises(EngineAlreadyRunning, match=r"change FLOWDECK_SOCKET$"):
            await Engine(control_settings(sock_path, socket=None)).start()


async def test_discovery_removes_our_stale_files_only(runtime: Path) -> None:
    async with Engine(control_settings(runtime, socket=None, name="live")) as eng:
        dead = runtime / D.socket_name("gone", _dead_pid())
        alive_pid = runtime / D.socket_name("reused", os.getppid())  # a live pid
        legacy = runtime / D.LEGACY_NAME
        for path in (dead, alive_pid, legacy):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(str(path))
            s.close()  # bound, never listening: stale
        (runtime / "other.sock.txt").write_text("x")
        live = await D.discover(runtime)
        assert [e.id for e in live] == [eng.id]
        assert not dead.exists()
        assert alive_pid.exists() and legacy.exists()  # pid alive / not our naming: kept


async def test_discovery_never_follows_symlinks(runtime: Path, sock_dir: Path) -> None:
    elsewhere = sock_dir / "elsewhere"
    elsewhere.mkdir()
    async with Engine(control_settings(elsewhere / "e.sock")):
        os.mkdir(runtime, 0o700)
        (runtime / "link.1.sock").symlink_to(elsewhere / "e.sock")
        assert await D.discover(runtime) == []
        assert (runtime / "link.1.sock").is_symlink()
        linked_dir = sock_dir / "linked"
        linked_dir.symlink_to(elsewhere)
        with pytest.raises(D.DiscoveryError, match="not a real directory"):
            await D.discover(linked_dir)


async def test_no_runtime_dir_means_no_engines(runtime: Path) -> None:
    assert await D.discover(runtime) == []


async def test_ls_takes_the_request_rate_over_a_second_of_stats(runtime: Path) -> None:
    """Two stats frames are one interval (0.25 s) apart: too short a window under bursty
    traffic. ls reads frames until a second of the engine's clock lies between them."""
    from flowdeck.engine import Step
    from flowdeck.engine.cli import ls

    async def echo(x: object) -> object:
        return x

    async with Engine(control_settings(runtime, socket=None, name="web")) as eng:
        for i in range(50):
            await eng.run(Step(echo), i)
        [live] = await D.discover(runtime)
        frames = await D.stats_frames(live.socket, ls.RATE_FRAMES, 30.0, span=ls.RATE_SPAN)
        assert 2 < len(frames) < ls.RATE_FRAMES
        assert frames[-1]["time"] - frames[0]["time"] >= ls.RATE_SPAN
        assert frames[-2]["time"] - frames[0]["time"] < ls.RATE_SPAN  # stopped at the span
        assert await ls.request_rate(live, 30.0) == 0.0  # idle now: no runs in the window
