"""Helpers for the fleet-through-Redis tests (no tests here): engines with one cache."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

from flowdeck.engine import Cache, Engine, EngineSettings, Step
from flowdeck.engine.fleet.heartbeat import Heartbeat
from flowdeck.engine.stores.redis_link import RedisLink
from tests.support import ROOT


def unique_fleet(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def link_of(eng: Engine) -> RedisLink:
    """The engine's Redis link (set once it started with a ``redis_url``)."""
    assert eng.redis is not None, "the engine has no Redis link (no redis_url, or not started)"
    return eng.redis


def heartbeat_of(eng: Engine) -> Heartbeat:
    """The engine's fleet heartbeat (set once it started with a ``redis_url``)."""
    heartbeat = eng.fleet.heartbeat
    assert heartbeat is not None, "the engine sends no heartbeat (no redis_url, or not started)"
    return heartbeat


def fleet_engine(url: str, fleet: str, **overrides: Any) -> Engine:
    """An engine (no socket) with a cache named "llm" (ttl 60, max_size 100)."""
    settings = EngineSettings.load(
        redis_url=url, fleet=fleet, control=False, fleet_interval=0.1, **overrides
    )
    eng = Engine(settings)
    eng.add(Cache(Step(lambda d: d), name="llm", ttl=60, max_size=100, l2=True))
    return eng


ENGINE_SCRIPT = """
import asyncio, sys
from flowdeck.engine import Cache, Engine, EngineSettings, Step
async def main():
    s = EngineSettings.load(control=False, fleet_interval=0.1)
    async with Engine(s) as eng:
        eng.add(Cache(Step(lambda d: d), name="llm", ttl=float(sys.argv[1]), max_size=100))
        print(eng.id, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


def spawn_engine(
    url: str, fleet: str, host: str, *, ttl: float = 60, read_only: bool = False
) -> subprocess.Popen[str]:
    """An engine in its own process; its first stdout line is its id."""
    env = {
        **os.environ,
        "FLOWDECK_REDIS_URL": url,
        "FLOWDECK_FLEET": fleet,
        "FLOWDECK_HOST": host,
        "FLOWDECK_READ_ONLY": "true" if read_only else "false",
    }
    return subprocess.Popen(
        [sys.executable, "-c", ENGINE_SCRIPT, str(ttl)],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
