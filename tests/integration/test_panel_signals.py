"""Issue 12 item 10: a panel ended by SIGTERM or SIGHUP removes its demo directory."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.waiting import until

SCRIPT = """
import sys
from flowdeck.panel.__main__ import exit_on_signals
from flowdeck.panel.app import FlowdeckApp
app = FlowdeckApp(embed=True, user_theme_dir=None)
exit_on_signals(app)
app.run(headless=True)
"""


def _demo_dirs() -> set[Path]:
    return set(Path("/tmp").glob("flowdeck-panel-*"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_signal_removes_the_embedded_demo_directory(sig: signal.Signals) -> None:
    before = _demo_dirs()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SCRIPT, cwd=ROOT)
    try:
        await until(lambda: any((d / "engine.sock").exists() for d in _demo_dirs() - before), 30)
        ours = _demo_dirs() - before
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert not any(d.exists() for d in ours)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
