"""Shared fixtures: private Redis servers and short temp socket paths."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.fleet import Workers
from tests.support.providers import FakeFleet
from tests.support.redis_server import RedisServer, redis_binary


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session; tests use unique names/prefixes."""
    server = RedisServer(redis_binary())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_proc() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may kill and restart."""
    server = RedisServer(redis_binary())
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


@pytest.fixture
async def redis_raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain redis-py client on the session's server, to look at what Flowdeck stored."""
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def fakes() -> AsyncIterator[FakeFleet]:
    """Real aiohttp servers on 127.0.0.1 speaking the OpenAI, Anthropic and Ollama formats."""
    async with FakeFleet() as fleet:
        yield fleet


@pytest.fixture
def workers() -> Iterator[Workers]:
    """Worker processes (``flowdeck serve --demo``) in a private runtime dir; stopped after."""
    w = Workers()
    yield w
    w.stop()
