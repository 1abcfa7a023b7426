"""One engine on a Redis fleet, in its own process (for the Redis fleet bench).

``python -m bench.fleet_worker URL FLEET HOST CACHES INTERVAL`` runs an engine with
``CACHES`` caches (``c0``..), heartbeats every ``INTERVAL`` seconds, no control socket
and no traffic; prints ``ready`` once it listens for fleet commands, runs until killed.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from flowdeck.engine import Cache, Engine, EngineSettings, Step


async def main(url: str, fleet: str, host: str, caches: int, interval: float) -> None:
    settings = EngineSettings.load(
        redis_url=url, fleet=fleet, host=host, control=False, fleet_interval=interval
    )
    async with Engine(settings) as eng:
        for i in range(caches):
            eng.add(Cache(Step(lambda d: d), name=f"c{i}", ttl=60, max_size=100))
        assert eng.redis is not None
        await asyncio.wait_for(eng.redis.subscribed.wait(), 30)
        print("ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


if __name__ == "__main__":
    u, f, h, n, s = sys.argv[1:6]
    asyncio.run(main(u, f, h, int(n), float(s)))
