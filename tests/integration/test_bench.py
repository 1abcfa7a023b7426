"""The benchmarks are not tests, but they must keep running: `python -m bench --quick`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


@pytest.mark.timeout(360)
def test_quick_bench_runs_and_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for title in (
        "Cache: L1 hit",
        "Cache: single-flight",
        "Router",
        "Parallel",
        "Memory",
        "Telemetry and control",
        "Scaling",
        "Seed scenarios",
        "Streaming",
        "Fleet on one host",
    ):
        assert f"## {title}" in text, f"missing section {title!r}"
    assert "machine: " in text and "cores" in text
    # Single-flight is a correctness claim, not a timing: exactly one inner call.
    assert text.count("| 1 inner call(s) |") == 3
