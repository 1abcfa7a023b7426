"""Engines as separate processes in a private runtime dir, started like a process manager.

Every worker runs ``flowdeck serve --demo`` with identical arguments and no ``--socket``;
``XDG_RUNTIME_DIR`` points at a private temp dir, so each binds ``demo.<pid>.sock`` there
and nothing outside the test sees them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support import ROOT

SERVE = ["serve", "--demo", "--latency-scale", "0.5", "--concurrency", "1"]


class Workers:
    """N worker processes and the CLI, all with one private ``XDG_RUNTIME_DIR``."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="fdw-", dir="/tmp"))
        self.runtime = self.base / "flowdeck"
        self.procs: list[subprocess.Popen[str]] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["XDG_RUNTIME_DIR"] = str(self.base)
        env.update(extra)
        return env

    def start(
        self, *args: str, serve: list[str] | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowdeck.engine", *(serve or SERVE), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(**(env or {})),
            cwd=ROOT,
        )
        self.procs.append(proc)
        return proc

    def sockets(self) -> list[Path]:
        if not self.runtime.is_dir():
            return []
        return sorted(p for p in self.runtime.iterdir() if p.name.endswith(".sock"))

    def socket_of(self, proc: subprocess.Popen[str]) -> Path:
        return self.runtime / f"demo.{proc.pid}.sock"

    def cli(self, *args: str, module: str = "flowdeck.engine") -> subprocess.CompletedProcess[str]:
        """``flowdeck ARGS`` (``module="flowdeck.panel"``: ``panel ARGS``), run to its end."""
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
            cwd=ROOT,
        )

    def ls(self) -> list[dict[str, Any]]:
        r = self.cli("ls", "--json")
        assert r.returncode == 0, r.stderr
        rows: list[dict[str, Any]] = json.loads(r.stdout)
        return rows

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        shutil.rmtree(self.base, ignore_errors=True)
