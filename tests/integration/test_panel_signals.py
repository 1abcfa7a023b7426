"""How a panel process ends: by signal (issue 12 item 10), with its exit stuck on a
frozen terminal, or with its terminal gone (a tmux server killed under it). Each case
removes the demo directory."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import struct
import sys
import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.waiting import until

SCRIPT = """
import sys
from flowdeck.panel.__main__ import exit_guard
from flowdeck.panel.app import FlowdeckApp
app = FlowdeckApp(embed=True, user_theme_dir=None)
exit_guard(app, grace=float(sys.argv[2]))
app.run(headless=sys.argv[1] == "headless")
"""


def _demo_dirs() -> set[Path]:
    return set(Path("/tmp").glob("flowdeck-panel-*"))


@dataclass
class Panel:
    proc: asyncio.subprocess.Process
    demo_dirs: set[Path]
    master: int = -1  # the terminal emulator's end of the pty (tty panels only)
    slave: int = -1

    def gone(self) -> bool:
        return not any(d.exists() for d in self.demo_dirs)


async def _start(mode: str, grace: float, tty: int | None = None) -> Panel:
    """Start the panel script; return it once its demo engine is serving."""
    before = _demo_dirs()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, mode, str(grace), cwd=ROOT, stdin=tty, stdout=tty, stderr=tty
    )
    await until(lambda: any((d / "engine.sock").exists() for d in _demo_dirs() - before), 30)
    return Panel(proc, _demo_dirs() - before)


@asynccontextmanager
async def _panel(grace: float, *, tty: bool = False) -> AsyncIterator[Panel]:
    """A panel process, headless or drawing on a real pty that is read like a terminal
    emulator reads it; killed at the end if the test did not end it."""
    if not tty:
        panel = await _start("headless", grace)
    else:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        loop = asyncio.get_running_loop()
        drawn = asyncio.Event()

        def read() -> None:
            try:
                if os.read(master, 65536):
                    drawn.set()
            except OSError:
                loop.remove_reader(master)

        loop.add_reader(master, read)
        panel = await _start("tty", grace, slave)
        panel.master, panel.slave = master, slave
        await asyncio.wait_for(drawn.wait(), 30)
    try:
        yield panel
    finally:
        if panel.proc.returncode is None:
            panel.proc.kill()
            await panel.proc.wait()
        for fd in (panel.master, panel.slave):
            if fd >= 0:
                asyncio.get_running_loop().remove_reader(fd)
                os.close(fd)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_signal_removes_the_embedded_demo_directory(sig: signal.Signals) -> None:
    async with _panel(600) as panel:
        panel.proc.send_signal(sig)
        assert await asyncio.wait_for(panel.proc.wait(), 30) == 0
        assert panel.gone()


async def test_an_exit_stuck_on_a_frozen_terminal_is_ended_after_the_grace_period() -> None:
    async with _panel(1.0, tty=True) as panel:
        termios.tcflow(panel.slave, termios.TCOOFF)  # output stopped: every write blocks
        panel.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(panel.proc.wait(), 30) == 128 + signal.SIGTERM
        assert panel.gone()


async def test_a_second_signal_ends_a_stuck_exit_at_once() -> None:
    # A grace far beyond the wait below: only the second signal can end it in time.
    # Two different signals, since a second SIGTERM sent at once may merge with the first.
    async with _panel(600, tty=True) as panel:
        termios.tcflow(panel.slave, termios.TCOOFF)
        panel.proc.send_signal(signal.SIGTERM)
        panel.proc.send_signal(signal.SIGHUP)
        assert await asyncio.wait_for(panel.proc.wait(), 30) in (
            128 + signal.SIGTERM,
            128 + signal.SIGHUP,
        )
        assert panel.gone()


async def test_a_panel_whose_terminal_goes_away_ends() -> None:
    # Closing the master is what killing a tmux server does to the pane: no signal, the
    # panel's writes start failing (Textual's own shutdown would then block for ever).
    async with _panel(600, tty=True) as panel:
        asyncio.get_running_loop().remove_reader(panel.master)
        os.close(panel.master)
        panel.master = -1
        assert await asyncio.wait_for(panel.proc.wait(), 30) == 128 + signal.SIGHUP
        assert panel.gone()
