"""The help screen: true to the bindings it describes, and laid out in any width."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from flowdeck.panel.fleet.screen import FleetScreen
from flowdeck.panel.keys import FLEET_KEYS, KEYS
from flowdeck.panel.modals.help import KEY_CELLS, help_content
from flowdeck.panel.widgets.live_table import LiveTable


def _fleet_bindings() -> dict[str, str]:
    """Key -> action of the Fleet view's bindings (and of its tables': s / S sort)."""
    out = {}
    for b in [*FleetScreen.BINDINGS, *LiveTable.BINDINGS]:
        for key in b.key.split(","):  # type: ignore[union-attr]
            out[key] = b.action  # type: ignore[union-attr]
    return out


def test_the_fleet_view_restores_with_the_engine_views_key() -> None:
    restore = next(k.keys for k in KEYS if k.action == "restore_route")
    assert _fleet_bindings()[restore] == "act('restore')"


def test_every_fleet_key_in_the_help_is_bound_in_the_fleet_view() -> None:
    bound = _fleet_bindings()
    for keys, _ in FLEET_KEYS:
        for key in keys.replace("/", " ").split():
            if key in ("shift+tab", "tab"):
                continue  # focus moves (Textual's own)
            key = {"+": "plus", "-": "minus"}.get(key, key)  # as the help writes them
            for one in [str(i) for i in range(1, 9)] if key == "1-8" else [key]:
                assert one in bound, one


@pytest.mark.parametrize("width", [46, 72, 78])
def test_help_lines_fit_and_long_ones_wrap_under_their_description(width: int) -> None:
    lines = str(help_content(read_only=True, width=width)).split("\n")
    assert all(cell_len(line) <= width for line in lines), [
        line for line in lines if cell_len(line) > width
    ]
    assert "Fleet view (0)" in lines
    entries = [line for line in lines if line.startswith("  ")]
    # An entry's continuation starts under the description, never at the left edge.
    for line in entries:
        assert not line[2:].startswith(" ") or line.startswith(" " * (2 + KEY_CELLS)), line
    wrapped = [line for line in entries if line.startswith(" " * (2 + KEY_CELLS))]
    assert wrapped, "some description is long enough to wrap at this width"
    assert sum("(unavailable: read-only)" in line for line in lines) == sum(
        k.mutating for k in KEYS
    )


def test_the_help_over_the_fleet_view_lists_only_the_keys_that_act_there() -> None:
    text = str(help_content(width=78, fleet=True))
    keys_column = {line[2 : 2 + KEY_CELLS].strip() for line in text.split("\n")}
    for shown in ("?", "ctrl+p", "space p", "T", "q", "enter", "1-8", "s / S", "u / d"):
        assert shown in keys_column, shown
    for engine_only in ("/", "e", "ctrl+f", "F", "2"):  # they act on the engine views
        assert engine_only not in keys_column, engine_only
    assert "Tables and dialogs" not in text and "Actions\n" not in text
