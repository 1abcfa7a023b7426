"""One Redis connection pool per engine, behind a circuit breaker.

Why a breaker: when Redis dies, every cache miss would otherwise wait for a connect
timeout before falling back to L1. After ``threshold`` consecutive connection failures
the breaker opens: :meth:`RedisLink.run` fails at once with :class:`RedisUnavailable`
without touching the network, and a background probe PINGs Redis with exponential
backoff (full jitter, :class:`~flowdeck.engine.backoff.Backoff`, so many engines do
not probe a recovering Redis in step). When Redis answers, the breaker closes,
``reconnects`` goes up, a ``redis`` "up" event is emitted and the ``on_up`` listeners
run (Memory drains its pending writes there). A restart too quick to open the breaker
is noticed by the control listener (its subscription broke and came back): then too
``reconnects`` goes up and the listeners run (a restarted Redis may have lost data).

Timeouts are short (0.5 s connect and per operation) and redis-py's own retries are
off: the caller is a cache that can always fall back to L1, so a slow answer is worse
than none.

Fleet-wide operator actions travel on the fleet's pub/sub channel (``channel``, by
default ``flowdeck:db0:control``; see :mod:`engine.fleet.scope`):
:meth:`RedisLink.publish` sends a msgpack map stamped with this link's ``instance`` id,
and one listener task per link hands every message from *other* links to the handlers
registered with :meth:`RedisLink.on_control` (caches flush / re-time their L1, memories
clear). Pub/sub is fire-and-forget: messages sent while a link is down are not replayed.
A read-only link (``read_only=True``) drops the operator writes among them
(:data:`FLEET_WRITES`) and counts them in ``refused``: a read-only engine changes nothing
because a neighbour was told to.

Longer than most modules: the breaker, its probe and the pool's lifecycle share state
that would leak across a split.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgpack
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from flowdeck.engine.backoff import Backoff
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.redact import mask_url
from flowdeck.engine.telemetry.events import EventBus, EventKind

T = TypeVar("T")

CONTROL_CHANNEL = "flowdeck:db0:control"  # the default fleet on database 0
# Control messages that change an engine's state: a read-only link never delivers them.
FLEET_WRITES = frozenset({"cache.flush", "cache.set_ttl", "memory.clear"})

# Errors that say "Redis is not reachable" (they trip the breaker); other RedisErrors
# (a wrong type, a script error) are counted but do not.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)


class RedisUnavailable(FlowdeckError):
    """Redis could not serve a call: the breaker is open or the call failed."""


class RedisLink:
    """A ``redis.asyncio`` client plus a circuit breaker and a recovery probe.

    ``up`` is the breaker state (True = closed, calls go through). ``errors`` counts
    failed calls, ``reconnects`` counts recoveries (down -> up).
    """

    def __init__(
        self,
        url: str,
        bus: EventBus,
        *,
        threshold: int = 3,
        timeout: float = 0.5,
        probe_min: float = 0.05,
        probe_max: float = 1.0,
        max_connections: int = 512,
        health_check_interval: int = 15,
        channel: str = CONTROL_CHANNEL,
        read_only: bool = False,
    ) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be >= 1, got {threshold!r}")
        self.url = url
        self.channel = channel
        self.read_only = read_only
        self.refused = 0  # writes from the fleet a read-only link did not deliver
        self._bus = bus
        self.threshold = threshold
        self.timeout = timeout
        self.probe_min = probe_min
        self.probe_max = probe_max
        self.up = False
        self.errors = 0
        self.reconnects = 0
        self.opens = 0  # times the breaker opened (the listener tells its restarts apart)
        self.last_error: str | None = None
        self._fails = 0
        self._closed = False
        self._probe_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._up_listeners: list[Callable[[], Any]] = []
        self._up_event = asyncio.Event()
        self._control_handlers: list[Callable[[dict[str, Any]], None]] = []
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while the control listener is subscribed
        self.instance = uuid.uuid4().hex  # tells our own control messages from others'
        # A plain pool: the blocking one costs ~40 us per command in its condition
        # variable. Running out of connections raises MaxConnectionsError, counted but
        # not taken for an outage.
        pool = ConnectionPool.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=health_check_interval,
            client_name="flowdeck",
        )
        self.client: Redis = Redis.from_pool(pool)

    # ---- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Connect; if Redis is not there, start down and keep probing (never raises)."""
        try:
            await asyncio.wait_for(self.client.ping(), self.timeout * 2)
        except (RedisError, *_UNREACHABLE) as exc:
            self._open(exc)
            return
        self.up = True
        self._up_event.set()
        self._bus.emit2(EventKind.REDIS, "up", None)
        if self._control_handlers:
            self._start_listener()

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        if self._probe_task is not None:
            tasks.append(self._probe_task)
        if self._listener is not None:
            tasks.append(self._listener)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        self.up = False
        with contextlib.suppress(Exception):
            await self.client.aclose()

    # ---- calls ------------------------------------------------------------------------
    async def run(self, fn: Callable[[Redis], Awaitable[T]]) -> T:
        """``await fn(client)``, or raise :class:`RedisUnavailable`."""
        if not self.up:
            raise self._refusal()
        try:
            result = await fn(self.client)
        except (RedisError, *_UNREACHABLE) as exc:
            raise self._failed(exc) from exc
        self._fails = 0
        return result

    async def get(self, key: str) -> bytes | None:
        """GET ``key``: :meth:`run` without the indirection, for the cache's hot miss path."""
        if not self.up:
            raise self._refusal()
        try:
            result = await self.client.get(key)
        except (RedisError, *_UNREACHABLE) as exc:
            raise self._failed(exc) from exc
        self._fails = 0
        return result  # type: ignore[return-value]  # decode_responses is off: bytes

    def _refusal(self) -> RedisUnavailable:
        return RedisUnavailable(f"redis is down ({self.last_error or 'not connected'})")

    def _failed(self, exc: BaseException) -> RedisUnavailable:
        """Count a failed call; unreachable-Redis errors count toward opening the breaker
        (running out of pooled connections is load, not an outage)."""
        self.errors += 1
        self.last_error = _describe_error(exc)
        if isinstance(exc, _UNREACHABLE) and not isinstance(exc, MaxConnectionsError):
            self._fails += 1
            if self._fails >= self.threshold:
                self._trip(exc)
        return RedisUnavailable(self.last_error)

    def on_up(self, listener: Callable[[], Any]) -> Callable[[], None]:
        """Call ``listener()`` whenever Redis comes back (a coroutine result is awaited
        in a task). Returns a function that removes the listener."""
        self._up_listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._up_listeners.remove(listener)

        return remove

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run background Redis work owned by the link (cancelled on close)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    # ---- control channel --------------------------------------------------------------
    def on_control(self, handler: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``handler(message)`` for control messages other links publish.

        Starts the listener task (if a loop is running). Returns a remover.
        """
        self._control_handlers.append(handler)
        with contextlib.suppress(RuntimeError):  # no running loop yet: start() begins it
            asyncio.get_running_loop()
            self._start_listener()

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._control_handlers.remove(handler)

        return remove

    async def publish(self, message: dict[str, Any]) -> int:
        """Send ``message`` (a map of plain values) to every other link on this Redis;
        returns how many listeners received it. Raises :class:`RedisUnavailable`."""
        payload = self.pack_control(message)
        return await self.run(lambda c: c.publish(self.channel, payload))

    def pack_control(self, message: dict[str, Any]) -> bytes:
        """``message`` as published on the control channel (for a PUBLISH inside a
        pipeline that also writes, so the announcement costs no extra round trip)."""
        packed: bytes = msgpack.packb({**message, "origin": self.instance}, use_bin_type=True)
        return packed

    def _start_listener(self) -> None:
        if self._closed or (self._listener is not None and not self._listener.done()):
            return
        self._listener = asyncio.ensure_future(self._listen())

    async def _listen(self) -> None:
        """Stay subscribed while Redis is up.

        One PubSub object for the link's life: after a broken connection redis-py
        reconnects it and subscribes again by itself (closing and re-creating it
        instead can hand a half-closed connection back to the pool).
        """
        pubsub: Any = None
        # The breaker's open count when the subscription broke with the breaker closed
        # (None: not broken). If the breaker opens after that, its probe reports the
        # recovery; only a restart too quick to open it is the listener's to report.
        broken_at: int | None = None
        try:
            while not self._closed:
                await self._up_event.wait()
                try:
                    if pubsub is None:
                        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                        try:
                            await pubsub.subscribe(self.channel)
                        except BaseException:
                            with contextlib.suppress(Exception):
                                await pubsub.aclose()
                            pubsub = None
                            raise
                        self.subscribed.set()
                    msg = await pubsub.get_message(timeout=1.0)
                    self.subscribed.set()
                    if broken_at is not None and self.up:
                        if broken_at == self.opens:  # a restart the breaker never saw
                            self._recovered()
                        broken_at = None
                    if msg is not None:
                        self._dispatch(msg.get("data"))
                except (RedisError, *_UNREACHABLE) as exc:
                    self.subscribed.clear()
                    self._failed(exc)  # counts toward the breaker like any other call
                    if self.up and broken_at is None:
                        broken_at = self.opens
                    await asyncio.sleep(self.probe_min)
        finally:
            self.subscribed.clear()
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _dispatch(self, data: Any) -> None:
        try:
            message = msgpack.unpackb(data, raw=False)
        except Exception:
            return  # not ours: someone else publishing on the channel
        if not isinstance(message, dict) or message.get("origin") == self.instance:
            return
        if self.read_only and message.get("op") in FLEET_WRITES:
            self.refused += 1
            return
        for handler in list(self._control_handlers):
            try:
                handler(message)
            except Exception:  # one bad handler must not silence the others
                continue

    def describe(self) -> dict[str, Any]:
        return {
            "url": mask_url(self.url),
            "up": self.up,
            "errors": self.errors,
            "reconnects": self.reconnects,
        }

    # ---- breaker ----------------------------------------------------------------------
    def _trip(self, exc: BaseException) -> None:
        """Open the breaker if it is closed."""
        self.last_error = _describe_error(exc)
        if self.up:
            self._open(exc)

    def _open(self, exc: BaseException) -> None:
        """Mark Redis down, say so once, and start the recovery probe."""
        self.last_error = _describe_error(exc)
        self.up = False
        self.opens += 1
        self._up_event.clear()
        self._bus.emit2(EventKind.REDIS, "down", self.last_error)
        if not self._closed and (self._probe_task is None or self._probe_task.done()):
            self._probe_task = asyncio.ensure_future(self._probe())

    async def _probe(self) -> None:
        backoff = Backoff(self.probe_min, self.probe_max)
        while not self._closed:
            await asyncio.sleep(backoff.next())
            try:
                await asyncio.wait_for(self.client.ping(), self.timeout * 2)
            except (RedisError, *_UNREACHABLE) as exc:
                self.last_error = _describe_error(exc)
                continue
            # Idle pooled connections may point at the dead server: drop them.
            with contextlib.suppress(Exception):
                await self.client.connection_pool.disconnect(inuse_connections=False)
            self._fails = 0
            self.up = True
            self._up_event.set()
            self._bus.emit2(EventKind.REDIS, "up", None)
            self._recovered()
            return

    def _recovered(self) -> None:
        """Redis is back (after an outage, or a restart too quick to open the breaker):
        count it and run the ``on_up`` listeners (a restarted Redis may have lost data)."""
        self.reconnects += 1
        for listener in list(self._up_listeners):
            try:
                res = listener()
                if asyncio.iscoroutine(res):
                    self.spawn(res)
            except Exception:  # a listener's bug must not keep the breaker open
                continue

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: background failures are counted by their owner


async def scan_unlink(client: Redis, pattern: str, *, batch: int = 500) -> int:
    """Delete every key matching ``pattern`` with SCAN + UNLINK (never KEYS/FLUSHDB)."""
    deleted = 0
    cursor = 0
    while True:
        cursor, keys = await client.scan(cursor=cursor, match=pattern, count=batch)
        if keys:
            deleted += await client.unlink(*keys)
        if cursor == 0:
            return deleted


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so a name matches only itself in SCAN MATCH."""
    out = []
    for ch in text:
        if ch in "*?[]\\^":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def _describe_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
