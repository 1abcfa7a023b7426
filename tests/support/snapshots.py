"""SVG snapshot helpers for the panel tests (no tests here): a frozen app, settle,
compare, read.

A rendering is compared with ``tests/panel/snapshots/NAME``; with
``FLOWDECK_UPDATE_SNAPSHOTS=1`` (or when the file is missing) it is written instead. A
mismatch writes the new rendering to the test's tmp dir and prints a text diff.
"""

from __future__ import annotations

import difflib
import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowdeck.panel.app import FlowdeckApp
from flowdeck.panel.state import PanelState
from tests.support import ROOT
from tests.support.frozen import SOCKET_SHOWN, frozen_state

SNAPSHOTS = ROOT / "tests" / "panel" / "snapshots"
UPDATE = os.environ.get("FLOWDECK_UPDATE_SNAPSHOTS") == "1"


async def screen_svg(
    screen: Any,
    feed: Any,
    size: tuple[int, int],
    tmp_path: Path,
    shown: Callable[[], object] | None = None,
) -> str:
    """The settled SVG of ``screen`` pushed over a frozen app at ``size``; ``shown`` runs
    while it is up (checks that need the app), and ``feed`` (the fleet feed the screen
    shows) is stopped afterwards."""
    app = frozen_app(tmp_path)
    try:
        async with app.run_test(size=size) as pilot:
            app.push_screen(screen)
            await pilot.pause()
            if shown is not None:
                shown()
            return await settle(app, pilot)
    finally:
        await feed.stop()


def frozen_app(tmp_path: Path, state: PanelState | None = None) -> FlowdeckApp:
    """The panel showing ``state`` (default: the recorded demo), following no engine,
    with no animation (no tab underline caught mid-slide)."""
    app = FlowdeckApp(
        socket=SOCKET_SHOWN,
        embed=False,
        refresh=0.5,
        user_theme_dir=tmp_path / "themes",
        state=state or frozen_state(),
    )
    app.animation_level = "none"
    return app


def svg_text(svg: str) -> list[str]:
    """The characters of an SVG screenshot, one text run a line (a readable diff)."""
    return [html.unescape(t).replace("\xa0", " ") for t in re.findall(r"<text [^>]*>([^<]*)<", svg)]


async def settle(app: Any, pilot: Any) -> str:
    """The screenshot once three frames in a row are the same (follow-the-end scrolling
    and layout happen over a few frames)."""
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    shot, same = app.export_screenshot(title="flowdeck"), 0
    for _ in range(60):
        await pilot.pause(0.05)
        previous, shot = shot, app.export_screenshot(title="flowdeck")
        same = same + 1 if shot == previous else 0
        if same == 3:
            break
    return str(shot)


def compare(name: str, svg: str, tmp_path: Path) -> None:
    """Fail with a text diff if ``svg`` is not the committed snapshot ``name``."""
    expected = SNAPSHOTS / name
    if UPDATE or not expected.exists():
        expected.write_text(svg)
        if not UPDATE:
            pytest.fail(f"{name} did not exist: written now, look at it and commit it")
        return
    if svg != expected.read_text():
        actual = tmp_path / name
        actual.write_text(svg)
        diff = difflib.unified_diff(
            svg_text(expected.read_text()), svg_text(svg), "committed", "now", lineterm="", n=0
        )
        pytest.fail(f"{name} differs from {expected}; now: {actual}\n" + "\n".join(list(diff)[:40]))
