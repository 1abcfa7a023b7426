"""Style is part of the build: ruff check, ruff format and mypy must stay clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(exe).exists():
        pytest.skip("ruff is not installed (it is in the test extras)")
    return [exe]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args: list[str]) -> None:
    proc = subprocess.run([*_ruff(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.timeout(300)
def test_mypy_is_clean() -> None:
    """The type checker configured in pyproject.toml ([tool.mypy]) finds nothing."""
    pytest.importorskip("mypy")
    from tests.support.typecheck import run_mypy

    proc = run_mypy()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
