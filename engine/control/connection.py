"""One control client: bounded reading, request dispatch through the method table, and
the writer task that drains the engine's event ring into ``events`` frames.

Nothing here makes the engine's workload wait for a client: the writer reads the ring
with its own cursor, it is never fed by it. A client that sends too much, reads too
slowly or stays too far behind is disconnected, and only that client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import pwd
import time
from typing import TYPE_CHECKING, Any

import msgpack

from flowdeck.engine.control import methods as M
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.security import peer_cred, peer_uid_allowed

if TYPE_CHECKING:
    from flowdeck.engine.control.server import ControlServer

log = logging.getLogger("flowdeck.engine.control")

CAUGHT_UP, BLOCKED, MORE = 0, 1, 2
"""What :meth:`Connection.drain` stopped at: the ring's end, a full socket, its budget."""


def user_of(uid: int | None) -> str | None:
    """The login name of a local uid (the peer is on this host), None if it has none."""
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None


class ErrorLog:
    """Logs an unexpected failure with its traceback, at most once per ``every`` seconds
    per (method, exception type); the next log line says how many were left out."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def failed(self, method: str, exc: BaseException) -> None:
        key = (method[:64], type(exc).__name__)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.every:
            self._last[key] = (last[0], last[1] + 1)
            return
        if len(self._last) > 256:
            self._last.clear()
        self._last[key] = (now, 0)
        more = f" ({last[1]} more like it not logged)" if last and last[1] else ""
        log.error("control request %r failed%s", key[0], more, exc_info=exc)


class Connection(asyncio.Protocol):
    """One client connection (an asyncio Protocol: no stream reader in between)."""

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self.engine = server.engine
        self.transport: asyncio.Transport | None = None
        self.unpacker = msgpack.Unpacker(
            max_buffer_size=P.MAX_FRAME,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=1 << 16,
            max_bin_len=1 << 16,
            max_array_len=1 << 12,
            max_map_len=1 << 10,
            max_ext_len=1 << 10,
        )
        self.fed = 0  # bytes fed to the unpacker
        self.msg_start = 0  # stream offset where the message being parsed began
        self.closed = False
        self.paused = False  # our write buffer is above the high-water mark
        self.pending = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.snapshot_seq: int | None = None
        self.client_name: str | None = None
        # subscription
        self.writer: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self.cursor = 0
        self.want_events = False
        self.want_stats = False
        self.kinds: frozenset[str] | None = None
        self.laps = 0
        self.dropped_total = 0
        self.sent_events = 0

    # ---- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        try:
            allowed = sock is not None and peer_uid_allowed(sock)
        except OSError:
            allowed = False
        if not allowed:
            self.server.refused += 1
            log.warning("refused a control connection from another user")
            self.closed = True
            transport.abort()
            return
        transport.set_write_buffer_limits(high=self.server.soft_limit)
        self.server.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.clients.discard(self)
        self.unsubscribe()
        # Pending primitive calls (a flush, a clear) finish; their answers are dropped.

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_writer()  # the socket drained: send more now, not at the next tick
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
            self._process()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.unpacker.feed(data)
        except Exception:
            self._drop(f"frame larger than {P.MAX_FRAME} bytes")
            return
        self.fed += len(data)
        self._process()
        # The buffer is bounded, but a message of many small items is parsed as it
        # arrives: bound the bytes of the one message being parsed (items <= bytes).
        if not self.closed and self.fed - self.msg_start > P.MAX_FRAME:
            self._drop(f"a message larger than {P.MAX_FRAME} bytes")

    def eof_received(self) -> bool:
        return False  # close our side too

    # ---- requests ------------------------------------------------------------------------
    def _process(self) -> None:
        unpacker = self.unpacker
        while not self.closed and not self.paused:
            try:
                msg = next(unpacker)
            except StopIteration:
                return
            except Exception as exc:
                self._drop(f"undecodable input ({type(exc).__name__})")
                return
            self.msg_start = unpacker.tell()
            try:
                msgid, method, params = P.parse_request(msg)
            except ValueError as exc:
                self._drop(str(exc))
                return
            self._handle(msgid, method, params)
            if not self.closed and self._over_hard_limit():
                return

    def _handle(self, msgid: int, method: Any, params: Any) -> None:
        try:
            if self.pending >= self.server.max_pending:
                raise P.ControlError(
                    P.TOO_MANY_REQUESTS,
                    f"more than {self.server.max_pending} requests pending; wait for answers",
                )
            entry, raw = M.check_method(method, params)
            if entry.write and self.engine.read_only:
                raise P.ControlError(P.READ_ONLY, f"{entry.name}: the engine is read-only")
            args = entry.validate(M.V.Params(entry.name, raw), self.server.exists)
            if entry.write:  # audited, and its setting marked "runtime"
                result = self.engine.fleet.socket_write(
                    entry.name, args, self.actor(), lambda: entry.handler(self, args)
                )
            else:
                result = entry.handler(self, args)
        except Exception as exc:
            self.respond(msgid, self._error(method, exc), None)
            return
        if inspect.isawaitable(result):
            self.pending += 1
            task = asyncio.get_running_loop().create_task(self._finish(msgid, method, result))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        self.respond(msgid, None, result)

    async def _finish(self, msgid: int, method: str, aw: Any) -> None:
        try:
            result = await asyncio.wait_for(aw, self.server.call_timeout)
        except TimeoutError:
            self.respond(msgid, P.ControlError(P.INTERNAL, "timed out").to_wire(), None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.respond(msgid, self._error(method, exc), None)
        else:
            self.respond(msgid, None, result)
        finally:
            self.pending -= 1

    def _error(self, method: Any, exc: Exception) -> dict[str, str]:
        """The wire error for ``exc``; a bug is logged (rate-limited) and is ``internal``."""
        err = M.as_control_error(exc)
        if err is None:
            self.server.errors.failed(str(method), exc)
            err = P.ControlError(P.INTERNAL, f"{type(exc).__name__}: {exc}")
        return err.to_wire()

    def actor(self) -> dict[str, Any]:
        """Who sent a write: the peer's uid and pid (SO_PEERCRED) and its hello name."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        cred = None
        if sock is not None:
            try:
                cred = peer_cred(sock)
            except OSError:
                cred = None
        pid, uid = cred if cred is not None else (None, None)
        return {
            "uid": uid,
            "user": user_of(uid),
            "pid": pid,
            "host": self.engine.host,
            "client": self.client_name,
        }

    def respond(self, msgid: int, error: Any, result: Any) -> None:
        if self.closed or self.transport is None:
            return
        self.transport.write(self.server.pack([P.RESPONSE, msgid, error, result]))
        self._over_hard_limit()

    # ---- session methods (used by the handlers in methods.py) -----------------------------
    def hello(self, a: dict[str, Any]) -> dict[str, Any]:
        self.client_name = a["client"]
        return self.server.hello()

    def snapshot(self) -> dict[str, Any]:
        snap = self.engine.snapshot()
        seq = snap["seq"]
        self.snapshot_seq = seq
        if self.writer is not None and seq > self.cursor:
            self.cursor = seq  # the snapshot covers everything up to seq
            self.laps = 0
        return snap

    def subscribe(self, a: dict[str, Any]) -> dict[str, Any]:
        bus = self.engine.bus
        if a["since"] is not None:
            self.cursor = min(a["since"], bus.seq)
        elif self.writer is None:
            snap = self.snapshot_seq
            self.cursor = snap if snap is not None and snap <= bus.seq else bus.seq
        self.want_events = a["events"]
        self.want_stats = a["stats"]
        self.kinds = a["kinds"]
        self.laps = 0
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._write_loop())
        return {
            "subscribed": True,
            "seq": self.cursor,
            "events": self.want_events,
            "stats": self.want_stats,
            "kinds": sorted(self.kinds) if self.kinds is not None else None,
            "event_interval": self.server.event_interval,
            "stats_interval": self.engine.settings.stats_interval,
        }

    def unsubscribe(self) -> dict[str, Any]:
        was = self.writer is not None
        if self.writer is not None:
            self.writer.cancel()
            self.writer = None
        return {"subscribed": False, "was_subscribed": was}

    # ---- the writer ------------------------------------------------------------------------
    def _wake_writer(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _write_loop(self) -> None:
        """Drain the ring into ``events`` frames; send ``stats`` periodically.

        After the ring's end it waits for the tick (unless that pass sent a full frame:
        then it only yields, as after its budget); after filling the socket it waits for
        ``resume_writing`` (or the tick, whichever is first).
        """
        loop = asyncio.get_running_loop()
        stats_every = self.engine.settings.stats_interval
        next_stats = time.monotonic()
        interval = self.server.event_interval
        full = self.server.frame_events
        try:
            while not self.closed:
                before = self.sent_events
                state = self.drain() if self.want_events else CAUGHT_UP
                if self.want_stats and not self.closed:
                    now = time.monotonic()
                    if now >= next_stats:
                        next_stats = now + stats_every
                        tr = self.transport
                        if tr is not None and tr.get_write_buffer_size() < self.server.soft_limit:
                            frame = self.server.stats_frame()
                            if frame is not None:
                                tr.write(frame)
                if state == MORE or (state == CAUGHT_UP and self.sent_events - before >= full):
                    # More to send, or a burst (a full frame since the last pass): look
                    # again after one loop turn instead of a tick, so the socket and the
                    # reader stay busy while events pour in.
                    await asyncio.sleep(0)
                    continue
                wake = self._wake = loop.create_future()
                timer = loop.call_later(interval, _set_done, wake)
                try:
                    await wake
                finally:
                    timer.cancel()
                    self._wake = None
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("control writer failed; closing the client")
            self.close()

    def drain(self) -> int:
        """Send what the ring holds past this client's cursor, within the budget."""
        tr = self.transport
        if tr is None or self.closed:
            return CAUGHT_UP
        srv = self.server
        bus = self.engine.bus
        soft = srv.soft_limit
        limit = srv.frame_events
        kinds = self.kinds
        pack = srv.pack
        for _ in range(srv.drain_budget):
            if bus.seq <= self.cursor:
                self.laps = 0  # caught up
                return CAUGHT_UP
            if tr.get_write_buffer_size() >= soft:
                # The client is not keeping up: leave events in the ring. Notice laps
                # even while stalled so a client that never reads gets disconnected.
                if bus.oldest > self.cursor + 1:
                    self._lapped(bus.seq - self.cursor, bus.seq, tr, pack)
                return BLOCKED
            events, dropped, cursor = bus.read_since(self.cursor, limit)
            if dropped:
                self._lapped(dropped, cursor - len(events), tr, pack)
                if self.closed:
                    return CAUGHT_UP
            self.cursor = cursor
            if kinds is not None:
                events = [e for e in events if e[2] in kinds]
                if not events:
                    continue
            self.sent_events += len(events)
            tr.write(pack([P.NOTIFY, P.EVENTS, {"events": events}]))
        return MORE

    def _lapped(self, count: int, cursor: int, tr: asyncio.Transport, pack: Any) -> None:
        self.laps += 1
        self.dropped_total += count
        self.cursor = cursor
        if self.laps >= self.server.max_laps:
            self._drop(f"too slow: lapped by the event ring {self.laps} times")
            return
        tr.write(pack([P.NOTIFY, P.DROPPED, {"count": count, "next": cursor + 1}]))

    # ---- closing ------------------------------------------------------------------------------
    def _over_hard_limit(self) -> bool:
        tr = self.transport
        if tr is not None and tr.get_write_buffer_size() > self.server.hard_limit:
            self._drop("unsent data above the hard limit")
            return True
        return False

    def _drop(self, reason: str) -> None:
        """Disconnect this client (and only it)."""
        if self.closed:
            return
        self.server.disconnected += 1
        log.warning("closing control client %s: %s", self.client_name or "?", reason)
        self.close()

    def close(self) -> None:
        self.closed = True
        self.server.clients.discard(self)
        self.unsubscribe()
        if self.transport is not None:
            self.transport.abort()


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
