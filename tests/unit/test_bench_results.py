"""``python -m bench --write`` keeps the hand-written tail of bench/RESULTS.md."""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import KEPT, _kept


def test_the_tail_below_the_marker_survives_a_rewrite(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    assert _kept(results) == ""  # no file yet
    results.write_text("# old table\n| a | 1 |\n")
    assert _kept(results) == ""  # no marker: nothing is kept
    tail = f"{KEPT}\n\n## Ranges over runs\n| row | 1.2x / 1.3x |\n"
    results.write_text("# old table\n| a | 1 |\n\n" + tail)
    assert _kept(results) == "\n" + tail
    assert "old table" not in _kept(results)
