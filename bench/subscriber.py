"""A subscriber in its own process: counts events until it has seen ``N`` of them.

``python -m bench.subscriber SOCKET N`` prints ``ready`` once subscribed, then
``done <events> <dropped> <monotonic time of the last event>``. With ``--raw`` it
connects a plain socket and decodes the msgpack stream itself (the floor: no client).
CLOCK_MONOTONIC is system-wide on Linux, so the parent can compare it with its own start
time.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time

import msgpack

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


def raw(path: str, target: int) -> None:
    """The floor: count events of ``[2, "events", {"events": [...]}]`` frames on a socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    print("ready", flush=True)
    unpacker = msgpack.Unpacker(raw=False)
    seen = 0
    last = time.monotonic()
    while seen < target:
        data = sock.recv(1 << 16)
        if not data:
            break
        unpacker.feed(data)
        for msg in unpacker:
            seen += len(msg[2]["events"])
            last = time.monotonic()
    print(f"done {seen} 0 {last}", flush=True)
    sock.close()


if __name__ == "__main__":
    if sys.argv[1] == "--raw":
        raw(sys.argv[2], int(sys.argv[3]))
    else:
        asyncio.run(main(sys.argv[1], int(sys.argv[2])))
