"""An engine with many caches under steady traffic, in its own process (for the panel bench).

``python -m bench.many_caches SOCKET CACHES RUNS_PER_S`` serves ``CACHES`` caches on
``SOCKET`` and runs ``RUNS_PER_S`` flows a second spread over all of them (mostly hits,
one in four a miss), prints ``ready`` and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from flowdeck.engine import Cache, Context, Engine, EngineSettings, Step


async def _echo(data: object) -> str:
    return "ok"


async def main(path: str, caches: int, rate: float) -> None:
    async with Engine(EngineSettings.load(socket=path, name="many-caches")) as eng:
        flows = [Cache(Step(_echo), name=f"c{i:03d}", ttl=3600, max_size=64) for i in range(caches)]
        for flow in flows:
            eng.add(flow)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        ctx = Context(eng)
        tick = 0.01
        per_tick = max(1, round(rate * tick))
        prompts = [f"p{i}" for i in range(32)]
        i = 0
        next_at = loop.time()
        while True:
            for _ in range(per_tick):
                i += 1
                prompt = prompts[i % 32] if i % 4 else f"miss {i}"
                await eng.run(flows[i % caches], prompt, ctx)
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - loop.time()))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
