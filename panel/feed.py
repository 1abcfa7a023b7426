"""Feed: the one consumer of an engine's LiveClient (and the embedded demo engine).

Every update is applied to the PanelState at once (cheap); painting is the app's job,
on its own timer, so a slow paint never holds the feed back and a paint error never
stops it. The feed knows nothing of widgets: it reports through two callbacks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from flowdeck.engine.control.client import (
    ConnectionLost,
    ControlClient,
    EngineNotRunning,
    LiveClient,
)
from flowdeck.engine.control.discovery import runtime_dir
from flowdeck.panel.state import PanelState

Embed = Literal["auto", "always", "never"]
MALFORMED_SHOWN = 3  # toasts for malformed updates; later ones are only counted


class Notify(Protocol):
    """The app's ``notify`` (a toast)."""

    def __call__(
        self, message: str, *, title: str = ..., severity: Any = ..., timeout: float | None = ...
    ) -> None: ...


class Feed:
    """Connect (or embed a demo engine), follow the engine, keep ``state`` current."""

    def __init__(
        self,
        state: PanelState,
        socket: Path,
        *,
        embed: Embed,
        notify: Notify,
        changed: Callable[[], object],
        embed_options: dict[str, Any] | None = None,
    ) -> None:
        """``changed`` is called when the screen should repaint now (connection change,
        first data); other updates wait for the app's refresh tick."""
        self.state = state
        self.socket = socket
        self.embed = embed
        self.embed_options = embed_options or {}
        self.notify = notify
        self.changed = changed
        self.live: LiveClient | None = None
        self.embedded: Any = None  # panel.embedded.EmbeddedEngine
        self.bad_updates = 0
        self.choose: Callable[[], Awaitable[Path | None]] | None = None
        """Picks the engine at start (the fleet's discovery); None: nothing found."""

    @property
    def connected(self) -> bool:
        return self.live is not None and self.live.connected

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """One control call on the live connection (raises ConnectionLost if none)."""
        live = self.live
        if live is None or not live.connected:
            raise ConnectionLost("not connected to the engine")
        return await live.call(method, params)

    async def run(self, chosen: Path | None = None) -> None:
        """Follow the engine (``chosen``, else the one ``choose`` picks, else the socket)
        until cancelled (run as the app's single feed worker)."""
        path = self.socket
        if chosen is None and self.choose is not None:
            chosen = await self.choose()
        if chosen is not None:
            path = chosen
            if self.embedded is not None:  # leaving the demo for a real engine
                await self.embedded.stop()
                self.embedded = None
        elif self.embed == "always" or (self.embed == "auto" and not await engine_listening(path)):
            embedded = await self._start_embedded()
            if embedded is None:
                return
            path = embedded
        self.state.socket = str(path)  # the header names the socket really followed
        self.live = live = LiveClient(path, client_name="panel")
        state = self.state
        loop = asyncio.get_running_loop()
        yielded = loop.time()
        try:
            async for update in live:
                kind = update.kind
                try:
                    state.apply(kind, update.data)
                except Exception as exc:  # a malformed update must not stop the feed
                    self.bad_updates += 1
                    if self.bad_updates <= MALFORMED_SHOWN:
                        self.notify(
                            f"{type(exc).__name__}: {exc}",
                            title=f"Ignored a malformed {kind!r} update",
                            severity="warning",
                        )
                if kind == "state" or kind == "snapshot":
                    self.changed()
                # Never hog the loop while draining a backlog: input stays responsive.
                now = loop.time()
                if now - yielded > 0.005:
                    await asyncio.sleep(0)
                    yielded = loop.time()
        except Exception as exc:
            self._failed("Stopped following the engine", exc)
            raise
        finally:
            state.set_connection("disconnected", "the panel stopped following the engine")
            await live.close()

    async def _start_embedded(self) -> Path | None:
        from flowdeck.panel.embedded import EmbeddedEngine

        self.state.embedded = True
        self.changed()
        await asyncio.sleep(0.05)  # let the first frame paint before the engine starts
        self.embedded = EmbeddedEngine(**self.embed_options)
        try:
            path: Path = await self.embedded.start()
        except Exception as exc:
            self._failed("Embedded engine failed to start", exc)
            self.state.set_connection("disconnected", f"embedded engine failed: {exc}")
            return None
        self.state.socket = str(path)
        if self.embed == "auto":
            text = self.nothing_found()
        else:
            text = "Showing a demo engine with simulated providers (--demo)."
        self.notify(text, title="Embedded demo engine", timeout=8)
        return path

    def nothing_found(self) -> str:
        """Why the demo shows: where the panel looked for an engine, and what to do."""
        if self.choose is None:
            return (
                f"Nothing listens on {self.socket}: showing a demo engine with simulated "
                "providers. Start yours there (or use --socket PATH) to watch it."
            )
        where = runtime_dir()
        return (
            f"No engine runs on this host (searched {where}/ and {self.socket}): showing "
            "a demo engine with simulated providers. An engine you start without --socket "
            "appears there and the panel offers to switch (0); or use --socket PATH."
        )

    def _failed(self, title: str, exc: Exception) -> None:
        self.notify(f"{type(exc).__name__}: {exc}", title=title, severity="error", timeout=30)

    async def close(self) -> None:
        """Close the connection and stop the embedded engine (removing its directory)."""
        if self.live is not None:
            await self.live.close()
        if self.embedded is not None:
            await self.embedded.stop()


async def engine_listening(path: Path) -> bool:
    """True if an engine accepts connections on ``path`` (False: start the demo)."""
    try:
        client = await ControlClient.connect(path, timeout=1.0)
    except EngineNotRunning:
        return False
    except ConnectionLost:
        return True  # something is there but odd: let the LiveClient report it
    await client.close()
    return True
