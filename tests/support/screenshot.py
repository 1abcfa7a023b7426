"""Re-make the README's screenshot: the panel's overview against the embedded demo.

``python -m tests.support.screenshot [seconds]`` runs the panel with its demo engine in
a private runtime directory for a few seconds of traffic (120x40) and writes
``docs/screenshot.svg``. Look at it before committing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from tests.support import ROOT

OUT = ROOT / "docs" / "screenshot.svg"


async def shoot(seconds: float) -> str:
    from flowdeck.panel.app import FlowdeckApp

    app = FlowdeckApp(embed=True, refresh=0.5, user_theme_dir=Path(tempfile.mkdtemp()) / "t")
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(seconds)
        app.clear_notifications()  # the "embedded demo" toast would cover the runs
        await pilot.pause(0.6)
        return app.export_screenshot(title="flowdeck")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
    with tempfile.TemporaryDirectory() as runtime:
        os.environ["XDG_RUNTIME_DIR"] = runtime
        OUT.write_text(asyncio.run(shoot(seconds)))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
