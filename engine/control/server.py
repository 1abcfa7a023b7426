"""The control socket: msgpack-RPC requests in, responses and telemetry notifications out.

One :class:`ControlServer` per engine. Each accepted client gets a :class:`_Conn`
(an asyncio Protocol): incoming bytes go through a bounded ``msgpack.Unpacker``,
requests are answered inline, and a subscribed client gets one writer task that
drains the engine's event ring with its own cursor. Nothing here ever makes the
engine's workload wait for a client: the writer reads the ring, it is never fed by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import os
import secrets
import socket
import stat
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from flowdeck.engine.control import protocol as P
from flowdeck.engine.errors import EngineAlreadyRunning, FlowdeckError

if TYPE_CHECKING:
    from flowdeck.engine.engine import Engine

log = logging.getLogger("flowdeck.engine.control")

_CRED = struct.Struct("3i")  # struct ucred {pid_t pid; uid_t uid; gid_t gid;}


class ControlSocketError(FlowdeckError):
    """The control socket cannot be created safely (ownership, permissions, path)."""


# ---- security helpers ------------------------------------------------------------------
def check_peer(uid: int, *, own_uid: int | None = None) -> bool:
    """Whether a peer with ``uid`` may use the socket: the engine's own uid, or root."""
    own = os.getuid() if own_uid is None else own_uid
    return uid == own or uid == 0


def peer_uid(sock: socket.socket) -> int | None:
    """The peer's uid from ``SO_PEERCRED`` (None where the platform lacks it)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, opt, _CRED.size)
    _pid, uid, _gid = _CRED.unpack(raw)
    return uid


def peer_uid_allowed(sock: socket.socket) -> bool:
    """SO_PEERCRED check of a connected Unix socket."""
    uid = peer_uid(sock)
    return uid is not None and check_peer(uid)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` 0700, or check an existing one is ours and repair its mode."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)  # the umask can only remove bits
        except FileExistsError:
            pass
        st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise ControlSocketError(f"socket directory {str(directory)!r} is not a real directory")
    if st.st_uid != os.getuid():
        raise ControlSocketError(
            f"socket directory {str(directory)!r} belongs to uid {st.st_uid}, not to this"
            f" process (uid {os.getuid()}); choose a socket path in a directory you own"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(directory, 0o700)


async def probe(path: Path, wait: float = 1.0) -> bool:
    """True when something accepts connections on ``path``; False for no file or stale."""
    try:
        _r, w = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), wait)
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    except TimeoutError:
        return True  # listening but its backlog is full: certainly alive
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise ControlSocketError(f"cannot probe control socket {str(path)!r}: {exc}") from exc
    w.close()
    with contextlib.suppress(Exception):
        await w.wait_closed()
    return True


def bind_private(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` that has mode 0600 from the moment it exists.

    It is bound under a temporary name inside the (0700) directory, chmod'ed, then
    hard-linked to ``path`` (``link`` never replaces an existing file) and the
    temporary name removed. No process-wide umask change, no chmod window at ``path``.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # The temporary name is no longer than the final one (sun_path holds 107 bytes).
        width = max(1, min(6, len(path.name) - 1))
        for _ in range(16):
            tmp = path.with_name("." + secrets.token_hex(3)[:width])
            try:
                sock.bind(str(tmp))
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        else:
            raise ControlSocketError(f"no free temporary name next to {str(path)!r}")
        try:
            os.chmod(tmp, 0o600)
            os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


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
        self.clients: set[_Conn] = set()
        self.refused = 0
        self.disconnected = 0
        self._packer = msgpack.Packer(default=P.to_wire, use_bin_type=True)
        self._stats_frame: tuple[float, bytes | None] | None = None

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
        self._server = await loop.create_unix_server(lambda: _Conn(self), sock=sock)
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
                "methods": list(P.METHODS),
                "write_methods": sorted(P.WRITE_METHODS),
                "notifications": list(P.NOTIFICATIONS),
                "event_fields": {k: list(v) for k, v in P.EVENT_FIELDS.items()},
                "error_codes": list(P.ERROR_CODES),
                "limits": {
                    "max_frame": P.MAX_FRAME,
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


class _Conn(asyncio.Protocol):
    """One client connection."""

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
        self.closed = False
        self.paused = False  # our write buffer is above the high-water mark
        self.pending = 0
        self.tasks: set[asyncio.Task[Any]] = set()
        self.snapshot_seq: int | None = None
        self.client_name: str | None = None
        # subscription
        self.writer: asyncio.Task[None] | None = None
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
        if self.writer is not None:
            self.writer.cancel()
            self.writer = None
        # Pending primitive calls (a flush, a clear) finish; their answers are dropped.

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
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
        self._process()

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
            name, raw = P.check_method(method, params)
            if name in P.WRITE_METHODS and self.engine.read_only:
                raise P.ControlError(P.READ_ONLY, f"{name}: the engine is read-only")
            args = P.validate(name, raw, self.server.exists)
            result = self._dispatch(name, args)
        except P.ControlError as err:
            self.respond(msgid, err.to_wire(), None)
            return
        except Exception as exc:
            log.exception("control request %r failed", method)
            self.respond(msgid, _internal(exc), None)
            return
        if inspect.isawaitable(result):
            self.pending += 1
            task = asyncio.get_running_loop().create_task(self._finish(msgid, result))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        self.respond(msgid, None, result)

    async def _finish(self, msgid: int, aw: Any) -> None:
        try:
            result = await asyncio.wait_for(aw, self.server.call_timeout)
        except P.ControlError as err:
            self.respond(msgid, err.to_wire(), None)
        except TimeoutError:
            self.respond(msgid, P.ControlError(P.INTERNAL, "timed out").to_wire(), None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.respond(msgid, _error_of(exc), None)
        else:
            self.respond(msgid, None, result)
        finally:
            self.pending -= 1

    def respond(self, msgid: int, error: Any, result: Any) -> None:
        if self.closed or self.transport is None:
            return
        self.transport.write(self.server.pack([P.RESPONSE, msgid, error, result]))
        self._over_hard_limit()

    # ---- methods ---------------------------------------------------------------------------
    def _dispatch(self, method: str, a: dict[str, Any]) -> Any:
        eng = self.engine
        if method == P.HELLO:
            self.client_name = a["client"]
            return self.server.hello()
        if method == P.SNAPSHOT:
            snap = eng.snapshot()
            seq = snap["seq"]
            self.snapshot_seq = seq
            if self.writer is not None and seq > self.cursor:
                self.cursor = seq  # the snapshot covers everything up to seq
                self.laps = 0
            return snap
        if method == P.SUBSCRIBE:
            return self._subscribe(a)
        if method == P.UNSUBSCRIBE:
            was = self.writer is not None
            self._unsubscribe()
            return {"subscribed": False, "was_subscribed": was}
        if method == P.CACHE_FLUSH:
            names = list(eng.caches) if a["name"] == "*" else [a["name"]]
            return self._for_each(names, eng.caches, "flush", "flushed")
        if method == P.MEMORY_CLEAR:
            names = list(eng.memories) if a["name"] == "*" else [a["name"]]
            return self._for_each(names, eng.memories, "clear", "cleared")
        if method == P.CACHE_SET_TTL:
            cache = eng.caches[a["name"]]
            return _then_describe(_call(cache.set_ttl, a["ttl"]), cache)
        if method == P.CACHE_SET_MAX_SIZE:
            cache = eng.caches[a["name"]]
            return _then_describe(_call(cache.set_max_size, a["max_size"]), cache)
        if method == P.ROUTER_PIN:
            router = eng.routers[a["name"]]
            return _then_describe(_call(router.pin, a["route"]), router)
        if method == P.ROUTER_SET_MODEL:
            router = eng.routers[a["name"]]
            return _then_describe(_call(router.set_model, a["route"], a["provider"]), router)
        if method == P.MEMORY_SEARCH:
            mem = eng.memories[a["name"]]
            res = _call(mem.search, a["keywords"], a["limit"])
            head = {"name": a["name"], "keywords": a["keywords"], "limit": a["limit"]}
            if inspect.isawaitable(res):
                return _awaited(res, lambda r: {**head, "results": r})
            return {**head, "results": res}
        raise P.ControlError(P.UNKNOWN_METHOD, f"unknown method {method!r}")  # pragma: no cover

    def _for_each(self, names: list[str], registry: dict[str, Any], attr: str, key: str) -> Any:
        results: dict[str, Any] = {}
        waits: list[tuple[str, Any]] = []
        for n in names:
            r = _call(getattr(registry[n], attr))
            if inspect.isawaitable(r):
                waits.append((n, r))
            else:
                results[n] = r
        if not waits:
            return {key: results}

        async def gather() -> dict[str, Any]:
            for n, aw in waits:
                results[n] = await aw
            return {key: results}

        return gather()

    # ---- subscription -------------------------------------------------------------------------
    def _subscribe(self, a: dict[str, Any]) -> dict[str, Any]:
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

    def _unsubscribe(self) -> None:
        if self.writer is not None:
            self.writer.cancel()
            self.writer = None

    async def _write_loop(self) -> None:
        """Drain the ring into ``events`` frames; send ``stats`` periodically."""
        stats_every = self.engine.settings.stats_interval
        next_stats = time.monotonic()
        try:
            while not self.closed:
                if self.want_events:
                    self.drain()
                if self.want_stats and not self.closed:
                    now = time.monotonic()
                    if now >= next_stats:
                        next_stats = now + stats_every
                        tr = self.transport
                        if tr is not None and tr.get_write_buffer_size() < self.server.soft_limit:
                            frame = self.server.stats_frame()
                            if frame is not None:
                                tr.write(frame)
                await asyncio.sleep(self.server.event_interval)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("control writer failed; closing the client")
            self.close()

    def drain(self) -> None:
        """Send what the ring holds past this client's cursor, within the budget."""
        tr = self.transport
        if tr is None or self.closed:
            return
        srv = self.server
        bus = self.engine.bus
        soft = srv.soft_limit
        limit = srv.frame_events
        kinds = self.kinds
        pack = srv.pack
        for _ in range(srv.drain_budget):
            if bus.seq <= self.cursor:
                self.laps = 0  # caught up
                return
            if tr.get_write_buffer_size() >= soft:
                # The client is not keeping up: leave events in the ring. Notice laps
                # even while stalled so a client that never reads gets disconnected.
                if bus.oldest > self.cursor + 1:
                    self._lapped(bus.seq - self.cursor, bus.seq, tr, pack)
                return
            events, dropped, cursor = bus.read_since(self.cursor, limit)
            if dropped:
                self._lapped(dropped, cursor - len(events), tr, pack)
                if self.closed:
                    return
            self.cursor = cursor
            if kinds is not None:
                events = [e for e in events if e[2] in kinds]
                if not events:
                    continue
            self.sent_events += len(events)
            tr.write(pack([P.NOTIFY, P.EVENTS, {"events": events}]))
        # budget used up: more next tick

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
        self._unsubscribe()
        if self.transport is not None:
            self.transport.abort()


# ---- helpers ------------------------------------------------------------------------------
def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _call(fn: Any, *args: Any) -> Any:
    """Call a primitive method, mapping its exceptions to stable error codes."""
    try:
        return fn(*args)
    except P.ControlError:
        raise
    except Exception as exc:
        raise _as_control_error(exc) from exc


def _as_control_error(exc: Exception) -> P.ControlError:
    if isinstance(exc, KeyError):
        msg = exc.args[0] if exc.args else "not found"
        return P.ControlError(P.NOT_FOUND, str(msg))
    if isinstance(exc, ValueError | TypeError):
        return P.ControlError(P.BAD_PARAMS, str(exc) or type(exc).__name__)
    log.warning("control call failed: %r", exc)
    return P.ControlError(P.INTERNAL, f"{type(exc).__name__}: {exc}")


def _error_of(exc: Exception) -> dict[str, str]:
    return _as_control_error(exc).to_wire()


def _internal(exc: Exception) -> dict[str, str]:
    return P.ControlError(P.INTERNAL, f"{type(exc).__name__}: {exc}").to_wire()


def _then_describe(result: Any, prim: Any) -> Any:
    """The primitive's ``describe()`` after the change, plus its method's return value."""

    def state(ret: Any) -> dict[str, Any]:
        out = dict(prim.describe())
        if ret is not None:
            out["result"] = ret
        return out

    if inspect.isawaitable(result):
        return _awaited(result, state)
    return state(result)


async def _awaited(aw: Any, then: Any) -> Any:
    try:
        result = await aw
    except (P.ControlError, asyncio.CancelledError):
        raise
    except Exception as exc:
        raise _as_control_error(exc) from exc
    return then(result)
