"""The embedded demo engine: started when no engine listens on the default socket.

It runs in the panel's own event loop, serves its control socket on a private temporary
path and is watched through that socket like any other engine (the panel's data path
is the same whether the engine is embedded or in another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import shutil
import tempfile
from pathlib import Path
from typing import Any


class EmbeddedEngine:
    """Start / stop an ``engine.Engine`` running ``engine.demo.run_demo``."""

    def __init__(self, *, concurrency: int = 12, latency_scale: float = 0.3) -> None:
        self.concurrency = concurrency
        self.latency_scale = latency_scale
        self.engine: Any = None
        self.socket: Path | None = None
        self._dir: Path | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> Path:
        """Start the engine and its workload; return the control socket path."""
        # The demo module is imported in a thread so the panel paints meanwhile.
        demo = await asyncio.to_thread(importlib.import_module, "flowdeck.engine.demo")
        from flowdeck.engine import Engine

        demo_settings, run_demo = demo.demo_settings, demo.run_demo

        self._dir = Path(tempfile.mkdtemp(prefix="flowdeck-panel-", dir="/tmp"))
        self.socket = self._dir / "engine.sock"
        settings = demo_settings(self.latency_scale, socket=self.socket, name="demo")
        self.engine = Engine(settings)
        await self.engine.start()
        self._task = asyncio.get_running_loop().create_task(
            run_demo(self.engine, stop=self._stop, concurrency=self.concurrency),
            name="flowdeck-embedded-demo",
        )
        return self.socket

    @property
    def directory(self) -> Path | None:
        """The private directory of the socket while the engine runs (removed by stop)."""
        return self._dir

    async def stop(self) -> None:
        """Stop the workload, close the engine, remove the private socket directory."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5.0)
            self._task = None
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.close()
            self.engine = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
