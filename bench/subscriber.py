"""A subscriber in its own process: counts events until it has seen ``N`` of them.

``python -m bench.subscriber SOCKET N`` prints ``ready`` once subscribed, then
``done <events> <dropped> <monotonic time of the last event>``. CLOCK_MONOTONIC is
system-wide on Linux, so the parent can compare it with its own start time.
"""

from __future__ import annotations

import asyncio
import sys
import time

from flowdeck.engine.control.client import ControlClient


async def main(path: str, target: int) -> None:
    client = await ControlClient.connect(path)
    await client.subscribe(stats=False)
    print("ready", flush=True)
    seen = dropped = 0
    last = time.monotonic()
    async for method, params in client.notifications():
        if method == "events":
            seen += len(params["events"])
            last = time.monotonic()
        elif method == "dropped":
            dropped += int(params.get("count", 0))
        if seen + dropped >= target:
            break
    print(f"done {seen} {dropped} {last}", flush=True)
    await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
