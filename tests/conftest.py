"""Shared fixtures: private Redis servers and short temp socket paths."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, find_redis


def _redis_binary() -> str:
    binary = find_redis()
    if binary is None:
        if os.environ.get("FLOWDECK_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server not found and FLOWDECK_REQUIRE_REDIS=1")
        pytest.skip("redis-server not installed")
    return binary


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session; tests use unique names/prefixes."""
    server = RedisServer(_redis_binary())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_proc() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may kill and restart."""
    server = RedisServer(_redis_binary())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short temp dir for Unix sockets (sun_path is limited to 108 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="fd-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sock_path(sock_dir: Path) -> Path:
    return sock_dir / "engine.sock"
