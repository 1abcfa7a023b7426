"""Run mypy over flowdeck.* laid out as the wheel installs it, and over the tests.

The folders sit at the top of the repository (engine/, panel/, themes/) and install as
flowdeck.engine / flowdeck.panel / flowdeck.themes; mypy cannot follow setuptools'
editable-install finder, so this builds the namespace from symlinks in a temp folder.
tests/ and bench/ are linked there too, so they are checked against the same
flowdeck.* they import. ``python -m tests.support.typecheck`` runs it by hand.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support import ROOT

PACKAGES = ("engine", "panel", "themes")


def run_mypy() -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="fd-mypy-") as tmp:
        ns = Path(tmp) / "flowdeck"
        ns.mkdir()
        for pkg in PACKAGES:
            (ns / pkg).symlink_to(ROOT / pkg, target_is_directory=True)
        for folder in ("tests", "bench"):
            (Path(tmp) / folder).symlink_to(ROOT / folder, target_is_directory=True)
        args = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
        args += [a for pkg in PACKAGES for a in ("-p", f"flowdeck.{pkg}")]
        args += ["-p", "tests", "-p", "bench"]
        proc = subprocess.run(
            [*args, "--cache-dir", str(ROOT / ".mypy_cache")],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
    return proc


if __name__ == "__main__":
    result = run_mypy()
    print(result.stdout, end="")
    sys.exit(result.returncode)
