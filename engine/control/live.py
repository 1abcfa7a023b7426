"""The monitor's view of one engine: :class:`LiveClient` connects, says hello, takes a
snapshot, subscribes, resyncs on a gap and reconnects with backoff, yielding
:class:`Update` values throughout. (Re-exported by ``client.py``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

from flowdeck.engine.backoff import Backoff
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ConnectionLost, ControlClient, ControlError


class Update(NamedTuple):
    """One item from :class:`LiveClient`.

    ``kind`` is ``"state"`` ({connected, error, attempt, path} and, when connected,
    ``engine``: the hello answer), ``"snapshot"`` (the full state), ``"events"`` (a list
    of ``[seq, ts, kind, *fields]``), ``"stats"`` or ``"dropped"`` ({count, next, ...}).
    """

    kind: str
    data: Any


class LiveClient:
    """A reconnecting, resyncing view of one engine (snapshot + deltas)."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        connect_timeout: float = 2.0,
        call_timeout: float = 5.0,
        stats: bool = True,
        kinds: list[str] | None = None,
        client_name: str = "live",
    ) -> None:
        self.path = Path(path) if path else P.default_socket_path()
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        # Half jitter: reconnects of one panel need no full spread, but many panels
        # reconnecting to a restarted engine should not arrive in step.
        self._delays = Backoff(backoff_initial, backoff_max, jitter=0.5)
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.stats = stats
        self.kinds = list(kinds) if kinds is not None else None
        self.client_name = client_name
        self.client: ControlClient | None = None
        self.hello: dict[str, Any] | None = None
        self.seq = 0
        self.attempt = 0
        self.resyncs = 0
        self._closing = asyncio.Event()
        self._iterating = False

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the documented API
    ) -> Any:
        """Call a method on the current connection (ControlError / ConnectionLost)."""
        client = self.client
        if client is None or not client.connected:
            raise ConnectionLost(f"not connected to the engine at {str(self.path)!r}")
        return await client.call(method, params, self.call_timeout if timeout is None else timeout)

    async def close(self) -> None:
        """Stop: the iteration ends and the connection is closed."""
        self._closing.set()
        client = self.client
        if client is not None:
            await client.close()

    def __aiter__(self) -> AsyncIterator[Update]:
        if self._iterating:
            raise RuntimeError("a LiveClient can be iterated by one consumer at a time")
        return self._run()

    def _state(self, connected: bool, error: str | None) -> Update:
        data: dict[str, Any] = {
            "connected": connected,
            "error": error,
            "attempt": self.attempt,
            "path": str(self.path),
        }
        if connected:
            data["engine"] = self.hello
        return Update("state", data)

    async def _run(self) -> AsyncIterator[Update]:
        self._iterating = True
        try:
            while not self._closing.is_set():
                try:
                    client, snap = await self._connect()
                except Exception as exc:  # not reachable, refused, or not an engine
                    self.attempt += 1
                    yield self._state(False, str(exc) or type(exc).__name__)
                    await self._backoff()
                    continue
                self.attempt = 0
                yield self._state(True, None)
                if self._closing.is_set():
                    break
                yield Update("snapshot", snap)
                error = None
                try:
                    async for update in self._follow(client):
                        yield update
                except Exception as exc:  # a malformed notification: start over
                    error = f"bad data from the engine: {exc!r}"
                error = error or client.close_reason or "connection lost"
                await client.close()
                self.client = None
                if self._closing.is_set():
                    break
                self.attempt = 1
                yield self._state(False, error)
                await self._backoff()
        finally:
            self._iterating = False
            if self.client is not None:
                await self.client.close()
                self.client = None

    async def _connect(self) -> tuple[ControlClient, dict[str, Any]]:
        client = await ControlClient.connect(self.path, self.connect_timeout)
        try:
            t = self.call_timeout
            self.hello = await client.call(P.HELLO, {"client": self.client_name}, t)
            snap = await client.call(P.SNAPSHOT, None, t)
            await client.call(P.SUBSCRIBE, _sub_params(self.stats, self.kinds), t)
        except BaseException:
            await client.close()
            raise
        self.client = client
        self.seq = int(snap.get("seq") or 0)
        return client, snap

    async def _follow(self, client: ControlClient) -> AsyncIterator[Update]:
        check_gaps = self.kinds is None
        async for method, params in client.notifications():
            if self._closing.is_set():
                return
            if method == P.EVENTS:
                events = params.get("events") or []
                if not events:
                    continue
                last = self.seq
                if events[0][0] <= last:
                    events = [e for e in events if e[0] > last]
                    if not events:
                        continue
                first = events[0][0]
                if check_gaps and first != last + 1:
                    gap = {"count": first - last - 1, "next": first, "gap": True}
                    try:
                        async for u in self._resync(client, gap):
                            yield u
                    except (ConnectionLost, ControlError, TimeoutError):
                        return
                    continue
                self.seq = events[-1][0]
                yield Update("events", events)
            elif method == P.STATS:
                yield Update("stats", params)
            elif method == P.DROPPED:
                try:
                    async for u in self._resync(client, dict(params)):
                        yield u
                except (ConnectionLost, ControlError, TimeoutError):
                    return

    async def _resync(self, client: ControlClient, info: dict[str, Any]) -> AsyncIterator[Update]:
        """Report the loss, then replace the state with a fresh snapshot."""
        yield Update("dropped", info)
        snap = await client.call(P.SNAPSHOT, None, self.call_timeout)
        self.seq = int(snap.get("seq") or 0)
        self.resyncs += 1
        yield Update("snapshot", snap)

    async def _backoff(self) -> None:
        delay = self._delays.delay(max(0, self.attempt - 1))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)


def _sub_params(stats: bool, kinds: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {"events": True, "stats": stats}
    if kinds is not None:
        params["kinds"] = kinds
    return params
