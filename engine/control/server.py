"""The control socket's lifecycle: create it safely, serve it, remove it.

One :class:`ControlServer` per engine. The concerns live beside it: ``security.py``
(private directory, 0600 bind, SO_PEERCRED, probe), ``connection.py`` (one client:
bounded reading, dispatch, the writer and its backpressure), ``methods.py`` (the method
table), ``params.py`` (params validation). This module holds what every connection
shares: the packer, the cached ``stats`` frame, the ``hello`` answer, the counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from flowdeck.engine.control import methods as M
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.connection import Connection, ErrorLog
from flowdeck.engine.control.schema import EVENT_FIELDS
from flowdeck.engine.control.security import (
    LISTEN_BACKLOG,
    ControlSocketError,
    bind_private,
    ensure_private_dir,
    probe,
)
from flowdeck.engine.errors import EngineAlreadyRunning

if TYPE_CHECKING:
    from flowdeck.engine.engine import Engine

log = logging.getLogger("flowdeck.engine.control")

__all__ = ["ControlServer", "ControlSocketError"]


# ---- the server ----------------------------------------------------------------------------
class ControlServer:
    """Serves the control protocol for ``engine`` on the Unix socket ``path``."""

    event_interval = 0.025
    """Seconds between drains of the event ring for a subscribed client."""
    frame_events = 2000
    """Most events per ``events`` notification."""
    drain_budget = 64
    """Most frames one client's writer sends per wake-up before yielding."""
    soft_limit = 1 << 20
    """Unsent bytes above which a client's writer stops draining (events wait in the ring)."""
    hard_limit = 8 << 20
    """Unsent bytes above which a client is disconnected."""
    max_laps = 3
    """Consecutive ring laps after which a subscribed client is disconnected."""
    max_pending = 32
    """Requests of one client that may be awaiting an async primitive at once."""
    call_timeout = 10.0
    """Seconds an async primitive method may take before the request fails ``internal``."""

    def __init__(self, engine: Engine, path: str | os.PathLike[str] | None = None) -> None:
        self.engine = engine
        self.path = Path(path) if path else P.default_socket_path()
        self._server: asyncio.AbstractServer | None = None
        self._inode: tuple[int, int, int] | None = None
        self.clients: set[Connection] = set()
        self.refused = 0
        self.disconnected = 0
        self._packer = msgpack.Packer(default=P.to_wire, use_bin_type=True)
        self._stats_frame: tuple[float, bytes | None] | None = None
        self.errors = ErrorLog()

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Create the socket; refuse if a live engine already listens on the path."""
        path = self.path
        ensure_private_dir(path.parent)
        for _attempt in range(3):
            st = _lstat(path)
            if st is not None:
                if not stat.S_ISSOCK(st.st_mode):
                    raise ControlSocketError(f"{str(path)!r} exists and is not a socket")
                if await probe(path):
                    raise EngineAlreadyRunning(
                        f"another engine is already listening on {str(path)!r}"
                    )
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # stale: nothing accepts connections there
                    log.info("removed stale control socket %s", path)
            try:
                sock = bind_private(path)
            except FileExistsError:
                continue  # someone bound it between our probe and our link: probe again
            except OSError as exc:
                raise ControlSocketError(f"cannot create {str(path)!r}: {exc}") from exc
            break
        else:
            raise ControlSocketError(f"could not create {str(path)!r}: it keeps reappearing")
        st = os.stat(path)
        self._inode = (st.st_dev, st.st_ino, st.st_ctime_ns)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: Connection(self), sock=sock, backlog=LISTEN_BACKLOG
        )
        log.info("control socket listening on %s", path)

    async def stop(self) -> None:
        """Close every client, stop listening and remove the socket file (if still ours)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = [t for conn in self.clients for t in conn.tasks]
        for conn in list(self.clients):
            conn.close()
        if tasks:  # let in-flight primitive calls finish briefly, then cancel them
            _done, late = await asyncio.wait(tasks, timeout=2.0)
            for t in late:
                t.cancel()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        if self._inode is not None:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino, st.st_ctime_ns) == self._inode:
                    os.unlink(self.path)
            except FileNotFoundError:
                pass
            self._inode = None

    @property
    def serving(self) -> bool:
        return self._server is not None

    # ---- helpers used by connections -------------------------------------------------
    def exists(self, kind: str, name: str) -> bool:
        eng = self.engine
        if kind == "providers":
            return name in eng.providers
        return name in getattr(eng, kind)

    def pack(self, obj: Any) -> bytes:
        """msgpack bytes of ``obj``; unpackable parts (huge ints, odd keys) are sanitized."""
        try:
            return self._packer.pack(obj)
        except Exception:
            self._packer.reset()
            return self._packer.pack(P.sanitize(obj))

    def stats_frame(self) -> bytes | None:
        """The packed ``stats`` notification, shared by every client for a short while.

        None when ``engine.stats()`` fails (logged once per failure streak): a broken
        primitive must not cost the clients their events.
        """
        now = time.monotonic()
        cached = self._stats_frame
        if cached is not None and now - cached[0] < self.engine.settings.stats_interval / 2:
            return cached[1]
        try:
            frame: bytes | None = self.pack([P.NOTIFY, P.STATS, self.engine.stats()])
        except Exception:
            if cached is None or cached[1] is not None:
                log.exception("engine.stats() failed; stats notifications skipped")
            frame = None
        self._stats_frame = (now, frame)
        return frame

    def hello(self) -> dict[str, Any]:
        ident = self.engine.identity()
        ident.update(
            {
                "protocol": P.PROTOCOL_VERSION,
                "methods": list(M.METHODS),
                "write_methods": sorted(M.WRITE_METHODS),
                "notifications": list(P.NOTIFICATIONS),
                "event_fields": {k: list(v) for k, v in EVENT_FIELDS.items()},
                "error_codes": list(P.ERROR_CODES),
                "limits": {
                    "max_frame": P.MAX_FRAME,
                    "max_items": P.MAX_FRAME,
                    "max_pending": self.max_pending,
                    "frame_events": self.frame_events,
                    "event_interval": self.event_interval,
                    "stats_interval": self.engine.settings.stats_interval,
                    "event_ring": self.engine.bus.capacity,
                },
                "clients": len(self.clients),
            }
        )
        return ident


# ---- helpers ------------------------------------------------------------------------------
def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
