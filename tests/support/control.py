"""Helpers for the control-plane tests (no tests here): a real engine with every primitive."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

import msgpack

from flowdeck.engine import Cache, Engine, EngineSettings, Memory, Parallel, Router, Step
from tests.support import ROOT


def control_settings(sock_path: Path, **overrides: Any) -> EngineSettings:
    """Two simulated providers (no latency) behind tiers "fast" and "slow"."""
    sim = {"kind": "simulated", "latency_ms": 0.0, "latency_jitter": 0.0}
    base: dict[str, Any] = {
        "name": "ctl-test",
        "socket": str(sock_path),
        "providers": {"p1": {**sim, "model": "m1"}, "p2": {**sim, "model": "m2"}},
        "tiers": {"fast": ["p1"], "slow": ["p2"]},
    }
    base.update(overrides)
    return EngineSettings.load(**base)


def build_flows(eng: Engine) -> dict[str, Any]:
    """Register a cache over a provider-backed router, a plain router, a parallel, a memory."""
    tiers = Router(
        {"fast": eng.provider("fast"), "slow": eng.provider("slow")},
        select=lambda d: d.get("tier", "fast"),
        name="tiers",
    )
    cache = Cache(tiers, name="llm", ttl=60, max_size=100)
    plain = Router(
        {"a": Step(lambda d: d), "b": Step(lambda d: d)},
        select=lambda d: "a" if d % 2 else "b",
        name="plain",
    )
    fan = Parallel([Step(lambda d: 1, name="one"), Step(lambda d: 2, name="two")], name="fan")
    mem = Memory(name="mem")
    flows = {"cache": cache, "tiers": tiers, "plain": plain, "fan": fan, "mem": mem}
    for prim in (cache, plain, fan, mem):
        eng.add(prim)
    return flows


async def burst(eng: Engine, flow: Any, n: int) -> None:
    """Run ``flow`` n times without yielding to the loop (sync steps never suspend)."""
    for i in range(n):
        await eng.run(flow, i)


class RawConn:
    """A hand-driven asyncio connection speaking raw msgpack (for malformed input)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)

    @classmethod
    async def open(cls, path: Path) -> RawConn:
        r, w = await asyncio.open_unix_connection(str(path))
        return cls(r, w)

    async def send(self, obj: Any) -> None:
        self.writer.write(msgpack.packb(obj, use_bin_type=True))
        await self.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, wait: float = 5.0) -> Any:
        """The next message, or None at end of stream."""
        while True:
            for msg in self.unpacker:
                return msg
            data = await asyncio.wait_for(self.reader.read(65536), wait)
            if not data:
                return None
            self.unpacker.feed(data)

    async def response(self, msgid: int, wait: float = 5.0) -> Any:
        """Skip notifications up to the response to ``msgid``."""
        while True:
            msg = await self.recv(wait)
            if msg is None or (msg[0] == 1 and msg[1] == msgid):
                return msg

    async def closed_by_server(self, wait: float = 5.0) -> bool:
        """True when the server closes the stream (any data before EOF is skipped)."""
        while True:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), wait)
            except ConnectionResetError:
                return True
            if not data:
                return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def blocking_call(path: Path, method: str, params: Any = None, wait: float = 5.0) -> Any:
    """One request over a plain blocking socket; returns the response message."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(wait)
        s.connect(str(path))
        s.sendall(msgpack.packb([0, 7, method, params if params is not None else {}]))
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        while True:
            data = s.recv(65536)
            if not data:
                return None
            unpacker.feed(data)
            for msg in unpacker:
                if msg[0] == 1 and msg[1] == 7:
                    return msg


async def ctl(sock: Path, *args: str) -> tuple[int, str, str]:
    """``flowdeck ctl`` in its own process (the engine runs in this loop: never block it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flowdeck.engine", "ctl", "--socket", str(sock), *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()
