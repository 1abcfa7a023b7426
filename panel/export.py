"""Export: the panel's current view of the engine as a JSON file in a known directory.

The directory is ``$FLOWDECK_EXPORT_DIR``, else ``$XDG_STATE_HOME/flowdeck/exports``,
else ``~/.local/state/flowdeck/exports`` (never the working directory, which may be
anything). The file carries the seq of the newest update applied, not the first
snapshot's: at the top and inside ``snapshot`` (the merged view is as of that seq).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from textual.app import App

from flowdeck.panel.state import PanelState


def default_export_dir() -> Path:
    """Where ``e`` writes snapshots (see the module docstring)."""
    explicit = os.environ.get("FLOWDECK_EXPORT_DIR")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "flowdeck" / "exports"


def export_path(directory: Path, now: float | None = None) -> Path:
    """A new file name in ``directory``: flowdeck-snapshot-<time>[-n].json."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = directory / f"flowdeck-snapshot-{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"flowdeck-snapshot-{stamp}-{n}.json"
    return path


def export_payload(state: PanelState) -> dict[str, Any]:
    """``state.export()`` with the snapshot's own ``seq`` brought to the newest update
    (the merged snapshot still holds the seq of the first one received)."""
    data = state.export()
    data["snapshot"] = {**data["snapshot"], "seq": state.seq}
    return data


def export_snapshot(app: App[Any], state: PanelState, directory: Path | None) -> Path | None:
    """Write ``state.export()``; say where (or why not) in a toast."""
    if not state.has_data:
        app.notify("Nothing to export yet: no snapshot received.", severity="warning")
        return None
    directory = directory or default_export_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = export_path(directory)
        path.write_text(json.dumps(export_payload(state), indent=2, default=repr))
    except OSError as exc:
        app.notify(
            f"Could not write in {directory}: {exc}", title="Export failed", severity="error"
        )
        return None
    # the name on a line of its own: a toast wraps a long path anywhere, mid-name too
    app.notify(f"{path.name}\nin {path.parent}/", title="Snapshot exported", timeout=8)
    return path
