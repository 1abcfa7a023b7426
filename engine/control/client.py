"""Async clients of the control socket.

:class:`ControlClient` is one connection: ``call`` multiplexes requests by msgid and
``notifications()`` yields what the engine pushes. :class:`LiveClient` is the view a
monitor wants: it connects, says hello, takes a snapshot, subscribes, resyncs on a gap
and reconnects with backoff, yielding :class:`Update` values throughout.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack

from flowdeck.engine.backoff import Backoff
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.protocol import ControlError
from flowdeck.engine.control.schema import Hello, Snapshot

__all__ = [
    "ConnectionLost",
    "ControlClient",
    "ControlError",
    "EngineNotRunning",
    "LiveClient",
    "Update",
]


class ConnectionLost(ConnectionError):
    """The connection to the engine is gone (or was never made)."""


class EngineNotRunning(ConnectionLost):
    """Nothing listens on the control socket path."""


async def _connected_socket(path: Path) -> socket.socket:
    """A connected non-blocking Unix socket. A Unix connect never is "in progress": it
    succeeds or, when the listen queue is full, fails with EAGAIN (which asyncio would
    take for in-progress and hand back an unconnected socket: a later ``[Errno 22]``).
    So retry EAGAIN here, with a short growing pause, until the caller's timeout."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    pauses = Backoff(0.002, 0.05, jitter=0.5)  # many clients at once: not in step
    try:
        while True:
            try:
                sock.connect(str(path))
                return sock
            except BlockingIOError:
                await asyncio.sleep(pauses.next())
    except BaseException:
        sock.close()
        raise


class _Proto(asyncio.Protocol):
    """Feeds incoming bytes to the client; never blocks the read side."""

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client._transport = transport  # type: ignore[assignment]  # a create_unix_connection transport is a Transport

    def data_received(self, data: bytes) -> None:
        self.client._feed(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost(exc)


class ControlClient:
    """One connection to an engine's control socket."""

    max_queued_events = 100_000
    """Events held for ``notifications()``; beyond this, frames are dropped locally and a
    ``dropped`` notification with ``"local": True`` takes their place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._transport: asyncio.Transport | None = None
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=64 << 20)
        self._packer = msgpack.Packer(use_bin_type=True)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._queue: deque[tuple[str, Any]] = deque()
        self._queued_events = 0
        self._wake: asyncio.Event = asyncio.Event()
        self._closed = False
        self.close_reason: str | None = None
        self.local_dropped = 0

    # ---- connecting -----------------------------------------------------------------
    @classmethod
    async def connect(
        cls,
        path: str | os.PathLike[str] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented API
    ) -> ControlClient:
        """Connect to the engine at ``path`` (default: the standard socket path)."""
        sock_path = Path(path) if path else P.default_socket_path()
        client = cls(sock_path)
        loop = asyncio.get_running_loop()
        try:
            sock = await asyncio.wait_for(_connected_socket(sock_path), timeout)
            await loop.create_unix_connection(lambda: _Proto(client), sock=sock)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise EngineNotRunning(
                f"no engine is listening on {str(sock_path)!r} ({exc.strerror or exc})"
            ) from None
        except TimeoutError:
            raise ConnectionLost(
                f"the engine at {str(sock_path)!r} is not accepting connections: its listen"
                f" queue is full (too many clients connecting at once); try again"
            ) from None
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {str(sock_path)!r}: {exc}") from None
        return client

    @property
    def connected(self) -> bool:
        return not self._closed and self._transport is not None

    async def close(self) -> None:
        """Close the connection; pending calls fail with ConnectionLost."""
        tr = self._transport
        if tr is not None and not tr.is_closing():
            tr.close()
        self._lost(None, reason="closed by the client")

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- requests -------------------------------------------------------------------
    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        timeout: float | None = 10.0,  # noqa: ASYNC109 - the documented API
    ) -> Any:
        """Call ``method``; return its result or raise ControlError / ConnectionLost.

        A timeout raises ``TimeoutError`` (the connection stays usable).
        """
        if self._closed or self._transport is None:
            raise ConnectionLost(self.close_reason or "not connected")
        msgid = next(self._ids) & P.MAX_MSGID
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending[msgid] = fut
        timer = None if timeout is None else loop.call_later(timeout, _expire, fut, method)
        try:
            self._transport.write(self._packer.pack([P.REQUEST, msgid, method, params or {}]))
            return await fut
        finally:
            self._pending.pop(msgid, None)
            if timer is not None:
                timer.cancel()

    async def hello(self, client: str | None = None) -> Hello:
        """The engine identity and protocol tables."""
        return await self.call(P.HELLO, {"client": client} if client else {})

    async def snapshot(self) -> Snapshot:
        """The full state."""
        return await self.call(P.SNAPSHOT)

    async def subscribe(
        self,
        *,
        events: bool = True,
        stats: bool = True,
        kinds: list[str] | None = None,
        since: int | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"events": events, "stats": stats}
        if kinds is not None:
            params["kinds"] = list(kinds)
        if since is not None:
            params["since"] = since
        return await self.call(P.SUBSCRIBE, params)

    async def unsubscribe(self) -> dict[str, Any]:
        return await self.call(P.UNSUBSCRIBE)

    # ---- notifications -----------------------------------------------------------------
    async def notifications(self) -> AsyncIterator[tuple[str, Any]]:
        """``(method, params)`` pushed by the engine, until the connection ends."""
        queue = self._queue
        while True:
            while queue:
                item = queue.popleft()
                if item[0] == P.EVENTS:
                    self._queued_events -= len(item[1].get("events") or ())
                yield item
            if self._closed:
                return
            self._wake.clear()
            await self._wake.wait()

    # ---- protocol callbacks ------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        unpacker = self._unpacker
        try:
            unpacker.feed(data)
            for msg in unpacker:
                self._dispatch(msg)
        except Exception as exc:
            if self._transport is not None:
                self._transport.abort()
            self._lost(None, reason=f"bad data from the engine: {exc!r}")

    def _dispatch(self, msg: Any) -> None:
        kind = msg[0]
        if kind == P.RESPONSE:
            _, msgid, error, result = msg
            fut = self._pending.get(msgid)
            if fut is None or fut.done():
                return
            if error is not None:
                code = error.get("code", P.INTERNAL) if isinstance(error, dict) else P.INTERNAL
                message = error.get("message", "") if isinstance(error, dict) else str(error)
                fut.set_exception(ControlError(str(code), str(message)))
            else:
                fut.set_result(result)
        elif kind == P.NOTIFY:
            _, method, params = msg
            if method == P.EVENTS:
                n = len(params.get("events") or ())
                if self._queued_events + n > self.max_queued_events:
                    self._local_drop(n)
                    return
                self._queued_events += n
            self._queue.append((method, params))
            self._wake.set()

    def _local_drop(self, n: int) -> None:
        self.local_dropped += n
        q = self._queue
        if q and q[-1][0] == P.DROPPED and q[-1][1].get("local"):
            q[-1][1]["count"] += n
        else:
            q.append((P.DROPPED, {"count": n, "next": None, "local": True}))
        self._wake.set()

    def _lost(self, exc: Exception | None, reason: str | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason or (f"connection lost: {exc}" if exc else "connection lost")
        err = ConnectionLost(self.close_reason)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        self._wake.set()


def _expire(fut: asyncio.Future[Any], method: str) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError(f"no answer to {method!r} in time"))


# LiveClient lives in live.py (it builds on ControlClient); re-exported here, where the
# panel and other callers import it from.
from flowdeck.engine.control.live import LiveClient, Update  # noqa: E402
