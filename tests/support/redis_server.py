"""Start, kill and restart a private redis-server for tests (never the machine's own)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server on a free loopback port with its own temp dir; no persistence."""

    def __init__(self, binary: str, extra: list[str] | None = None) -> None:
        self.binary = binary
        self.extra = list(extra or [])  # more redis-server options (e.g. --unixsocket)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="flowdeck-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # up (with a password)
                        return
            except OSError:
                pass
            time.sleep(0.02)  # polling a child process we just spawned; no event to await
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def kill(self) -> None:
        """Hard-kill (SIGKILL): what a crash looks like to clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def find_redis() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def redis_binary() -> str:
    """The redis-server to run; skip (or fail, with FLOWDECK_REQUIRE_REDIS=1) without one."""
    binary = find_redis()
    if binary is None:
        if os.environ.get("FLOWDECK_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server not found and FLOWDECK_REQUIRE_REDIS=1")
        pytest.skip("redis-server not installed")
    return binary
