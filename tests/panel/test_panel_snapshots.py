"""Snapshot tests: every view rendered from a frozen state, compared with committed SVGs.

The state is replayed from ``snapshots/recording.json`` (no live engine), so the
output is the same on every run. After an intended change of the look, re-create the
SVGs with ``FLOWDECK_UPDATE_SNAPSHOTS=1 python -m pytest tests/panel/test_panel_snapshots.py``
and look at them before committing. A mismatch writes the new rendering beside the
test's tmp dir and names it.
"""

from __future__ import annotations

import difflib
import html
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowdeck.panel.app import FlowdeckApp
from tests.support.frozen import (
    SOCKET_SHOWN,
    frozen_provider_state,
    frozen_router_state,
    frozen_state,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("FLOWDECK_UPDATE_SNAPSHOTS") == "1"

CASES = [
    ("overview", "1", (120, 40)),
    ("caches", "2", (120, 40)),
    ("routers", "3", (120, 40)),
    ("timelines", "4", (120, 40)),
    ("memory", "5", (120, 40)),
    ("events", "6", (120, 40)),
    ("overview", "1", (80, 24)),
    ("caches", "2", (80, 24)),
    ("providers", "8", (120, 40)),
    ("providers", "8", (80, 24)),
    ("routers", "3", (80, 24)),
]
STATES = {"8": frozen_provider_state, "3": frozen_router_state}
"""Views whose snapshot needs state the recording lacks (cooldowns, weights)."""


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """The events' clock column in one time zone whatever the machine's."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


async def render(key: str, size: tuple[int, int], tmp_path: Path) -> str:
    app = FlowdeckApp(
        socket=SOCKET_SHOWN,
        embed=False,
        refresh=0.5,
        user_theme_dir=tmp_path / "themes",
        state=STATES.get(key, frozen_state)(),
    )
    app.animation_level = "none"  # no tab underline caught mid-slide
    async with app.run_test(size=size) as pilot:
        await pilot.press(key)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        app._tick()
        # Settled: follow-the-end scrolling and layout happen over a few frames.
        shot, same = app.export_screenshot(title="flowdeck"), 0
        for _ in range(60):
            await pilot.pause(0.05)
            previous, shot = shot, app.export_screenshot(title="flowdeck")
            same = same + 1 if shot == previous else 0
            if same == 3:
                break
        return shot


@pytest.mark.parametrize(
    ("view", "key", "size"), CASES, ids=[f"{v}-{w}x{h}" for v, _, (w, h) in CASES]
)
async def test_view_matches_its_snapshot(
    view: str, key: str, size: tuple[int, int], tmp_path: Path
) -> None:
    svg = await render(key, size, tmp_path)
    expected = SNAPSHOTS / f"{view}-{size[0]}x{size[1]}.svg"
    if UPDATE or not expected.exists():
        expected.write_text(svg)
        if not UPDATE:
            pytest.fail(f"{expected.name} did not exist: written now, look at it and commit it")
        return
    if svg != expected.read_text():
        actual = tmp_path / expected.name
        actual.write_text(svg)
        diff = difflib.unified_diff(
            _text(expected.read_text()), _text(svg), "committed", "now", lineterm="", n=0
        )
        pytest.fail(
            f"{view} at {size[0]}x{size[1]} differs from {expected}; now: {actual}\n"
            + "\n".join(list(diff)[:40])
        )


def _text(svg: str) -> list[str]:
    """The characters of an SVG screenshot, one text run a line (for a readable diff)."""
    return [html.unescape(t).replace("\xa0", " ") for t in re.findall(r"<text [^>]*>([^<]*)<", svg)]
