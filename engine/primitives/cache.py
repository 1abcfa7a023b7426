"""Cache: an in-process LRU+TTL layer (L1) over an optional shared Redis layer (L2).

Long on purpose: lookup, single-flight and the operator levers share the hot-path state
(store, flights, counters); splitting them would put attribute hops on every hit.

Lookup order: L1, then (for a miss, once per key however many callers are waiting) L2,
then the inner primitive. An L2 hit fills L1; a computed result goes to both.

- Keys: the stable digest of the input (:func:`engine.stores.keys.digest`), or of
  ``key(data)`` when a key function is given; the Redis layout (one prefix per cache,
  records, SCAN + UNLINK flush, re-timing) is :mod:`flowdeck.engine.stores.cache_l2`;
  keys are ``<fleet>:cache:<name>:<digest>`` (:mod:`flowdeck.engine.fleet.scope`).
- Single-flight: concurrent misses on one key share one call of the inner primitive
  (a :class:`Flight`). Every waiter gets its result or its exception (nothing is cached
  on error). Each waiter waits on a future of its own, all resolved in one pass when
  the call ends: cancelling one waiter never cancels the shared call (what
  ``asyncio.shield`` would do, without a callback hop per waiter).
- Entries: one slotted object per key (:mod:`flowdeck.engine.stores.cache_l1`: store
  time, result, latency, and the cost only when it is not zero), in the store's single
  recency-ordered dict (see :mod:`flowdeck.engine.stores.lru`). The short key
  that events show is not stored: a miss computes it once per flight (:class:`Flight`),
  and an L1 hit emits its event with the key deferred (``EventBus.emit3_deferred``),
  so the digest is computed only if someone reads the event, which then holds the
  same short key as ever.
- TTL changes apply to entries already stored: each entry keeps its store time (in L1
  and inside the L2 record), so a shorter TTL turns old entries into misses at once;
  a background SCAN re-times (or deletes) the L2 keys too.
- Redis is best effort: any L2 failure (or an L2 step skipped while the breaker is
  open, or a value msgpack cannot encode) is counted in ``l2_errors`` and the cache
  goes on with L1 alone; the caller never sees a Redis exception.
- A record over ``l2_max_bytes`` (default 1 MiB, encoded) is not written to Redis: the
  value stays in L1 only, counted in ``l2_too_large`` (not an error: Redis is fine).
- Fleet: on an engine with Redis, ``flush()`` and ``set_ttl()`` are announced on the
  fleet's control channel; same-named caches on other engines clear / re-time
  their L1 (the sender has already done L2).
- Counting: every call is one of a hit (``hits_l1`` / ``hits_l2``), a miss (the inner
  ran) or ``coalesced`` (waited for another caller's miss); ``hit_rate`` is hits over
  all three.
- Accounting: each entry remembers the inner's latency and the cost of its result
  (``engine.completion.cost_of``); every hit adds them to ``time_saved`` and
  ``cost_saved``.

Cached values are shared, not copied: callers must not mutate a result they got from
a cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from flowdeck.engine.completion import cost_of
from flowdeck.engine.context import Context
from flowdeck.engine.primitives.base import Primitive, as_primitive
from flowdeck.engine.primitives.cache_stream import check_replay, open_cache_stream
from flowdeck.engine.stores.cache_l1 import CacheEntry, CostlyEntry, cache_entry
from flowdeck.engine.stores.cache_l2 import L2_MAX_BYTES, CacheL2, TooLarge, check_l2_max_bytes
from flowdeck.engine.stores.keys import SHORT_KEY, digest_of_local, local_key, short_key
from flowdeck.engine.stores.lru import LRUTTLStore, check_size, check_ttl
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable
from flowdeck.engine.telemetry.events import EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

if TYPE_CHECKING:
    from flowdeck.engine.primitives.host import Host
    from flowdeck.engine.settings import CacheSettings

_perf = time.perf_counter

_HIT = EventKind.CACHE_HIT
_MISS = EventKind.CACHE_MISS
_SET = EventKind.CACHE_SET
_EVICT = EventKind.CACHE_EVICT
_FLUSH = EventKind.CACHE_FLUSH
_CONFIG = EventKind.CACHE_CONFIG
_L2_ERROR = EventKind.CACHE_L2_ERROR


class Cache(Primitive):
    """Cache the results of ``inner`` by input.

    ``ttl`` (seconds) and ``max_size`` (entries) bound L1. L2 is on by default: a cache
    on an engine with ``redis_url`` also uses Redis, unless ``l2=False`` (or the
    ``caches.<name>.l2 = false`` setting) opts it out; on an engine without Redis the
    cache is L1-only and ``describe()["l2"]`` is false (config is in describe(),
    counters in stats()). ``key(data)`` chooses what identifies a request (default: all
    of ``data``). ``cache_none=False`` does not cache ``None`` results. ``clock`` and
    ``wall_clock`` are injectable for tests (monotonic seconds for L1, Unix seconds for
    the store time kept in L2).
    """

    kind = "cache"

    def __init__(
        self,
        inner: Any,
        *,
        name: str,
        ttl: float,
        max_size: int,
        key: Callable[[Any], Any] | None = None,
        l2: bool = True,
        l2_max_bytes: int = L2_MAX_BYTES,
        cache_none: bool = True,
        replay: str | None = None,
        replay_tps: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Cache name must be a non-empty string, got {name!r}")
        if key is not None and not callable(key):
            raise TypeError(f"Cache key must be a callable, got {type(key).__name__}")
        self.inner = as_primitive(inner)
        self.name = name
        self.ttl = check_ttl(ttl)
        self.max_size = check_size(max_size)
        self.l2_enabled = bool(l2)
        self.l2_max_bytes = check_l2_max_bytes(l2_max_bytes)
        self.cache_none = bool(cache_none)
        # Streaming (engine.primitives.cache_stream): how hits replay, streams being
        # recorded, time to first delta per source.
        self.replay, self.replay_tps = check_replay(replay, replay_tps)
        self.recordings: dict[Hashable, Any] = {}
        self.ttft_by_source: dict[str, LatencyWindow] = {}
        self._clock = clock
        self._wall = wall_clock
        self._store: LRUTTLStore[CacheEntry] = LRUTTLStore(
            self.max_size, self.ttl, clock=clock, on_evict=self._evicted
        )
        # A plain function stored on the instance: calling it binds nothing.
        self._key: Callable[[Any], Hashable] = _stream_blind if key is None else _keyed(key)
        self._get = self._store.get_entry
        self._inflight: dict[Hashable, Flight] = {}
        self._l2 = CacheL2(name)  # key prefix, records, flush and re-time in Redis
        self._gen = 0  # bumped by _new_generation(): older fills are not stored
        self._retime: asyncio.Task[None] | None = None
        self._control_remove: Callable[[], None] | None = None
        self._writes: set[asyncio.Task[Any]] = set()
        self.hits_l1 = 0
        self.hits_l2 = 0
        self.misses = 0
        self.coalesced = 0
        self.sets = 0
        self.l2_errors = 0
        self.l2_too_large = 0  # records over l2_max_bytes, kept in L1 only
        self.time_saved = 0.0
        self.cost_saved = 0.0

    def bind(self, host: Host) -> None:
        super().bind(host)
        name = self.name
        assert name is not None  # Cache.__init__ requires one
        self._l2 = CacheL2(name, host.scope.cache_prefix(name))  # the host's fleet

    # ---- the hot path -----------------------------------------------------------------
    async def open_stream(self, data: Any, ctx: Context) -> Any:
        """Stream ``data``: replay a hit, join a recording, or record a miss."""
        return await open_cache_stream(self, data, ctx)

    async def execute(self, data: Any, ctx: Context) -> Any:
        # A str is its own key (local_key): skip the two calls for the commonest input.
        key = data if type(data) is str and self._key is _stream_blind else self._key(data)
        entry = self._get(key)
        if entry is not None:
            self.hits_l1 += 1
            self.time_saved += entry.latency
            if type(entry) is CostlyEntry:
                self.cost_saved += entry.cost
            self._bus.emit3_deferred(_HIT, self.name, "l1", short_key, key)
            return entry.value
        flight = self._inflight.get(key)
        if flight is not None:
            self.coalesced += 1
            self._bus.emit3(_MISS, self.name, flight.short, True)
            # flight.join(), inlined: a thousand waiters each pay it.
            waiter = flight._loop.create_future()
            flight._waiters.append(waiter)
            return await waiter
        return await self._lead(key, data, ctx)

    def _put(
        self,
        key: Hashable,
        result: Any,
        latency: float,
        cost: float,
        stored_at: float | None = None,
    ) -> None:
        """Store an entry in L1 (``stored_at`` keeps an L2 entry's age)."""
        now = self._clock()
        if stored_at is None or stored_at > now:
            stored_at = now
        self._store.put(key, cache_entry(stored_at, result, latency, cost), now)

    async def _lead(self, key: Hashable, data: Any, ctx: Context) -> Any:
        """The first caller for a missing key: look in L2 here (no task hop on an L2
        hit), otherwise hand the inner call to a task that every caller waits on."""
        hexkey = digest_of_local(key)
        fut = Flight(hexkey[:SHORT_KEY])
        self._inflight[key] = fut
        gen = self._gen
        if self._control_remove is None:
            self._attach_control()
        link = self._link()
        if link is not None:
            try:
                found = await self._l2_get(link, hexkey)
            except BaseException:  # this caller was cancelled: the others still get an answer
                self._spawn(self._fill(key, hexkey, data, ctx, fut, gen, True))
                raise
            if found is not None:
                self._l2_hit(key, hexkey, fut, gen, found)
                return found[0]
        self._spawn(self._fill(key, hexkey, data, ctx, fut, gen, False))
        return await fut.join()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _l2_hit(
        self,
        key: Hashable,
        hexkey: str,
        fut: Flight,
        gen: int,
        found: tuple[Any, float, float, float],
    ) -> None:
        result, age, latency, cost = found
        short = fut.short
        if gen == self._gen:
            self._put(key, result, latency, cost, self._clock() - age)
        self.hits_l2 += 1
        self.time_saved += latency
        self.cost_saved += cost
        self._bus.emit3(_HIT, self.name, "l2", short)
        self._resolve(key, fut, result)

    async def _fill(
        self,
        key: Hashable,
        hexkey: str,
        data: Any,
        ctx: Context,
        fut: Flight,
        gen: int,
        lookup: bool,
    ) -> None:
        """Resolve ``fut`` from the inner primitive (after L2, if ``lookup``), then
        store the result.

        Runs in its own task so that no waiter's cancellation can stop it; the waiters
        are released before the (slower) L2 write.
        """
        short = fut.short
        link = self._link()
        try:
            if lookup and link is not None:
                found = await self._l2_get(link, hexkey)
                if found is not None:
                    self._l2_hit(key, hexkey, fut, gen, found)
                    return
            self.misses += 1
            self._bus.emit3(_MISS, self.name, short, False)
            t0 = _perf()
            result = await self.inner.execute(data, ctx)
            latency = _perf() - t0
        except asyncio.CancelledError:
            self._release(key, fut)
            fut.cancel()
            raise
        except BaseException as exc:
            self._release(key, fut)
            fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if result is None and not self.cache_none:
            self._resolve(key, fut, result)
            return
        cost = cost_of(result)
        if gen == self._gen:
            self._put(key, result, latency, cost)
            self.sets += 1
        self._resolve(key, fut, result)
        if gen != self._gen:
            return
        if link is None:
            self._bus.emit3(_SET, self.name, short, "l1")
            return
        stored = await self._l2_set(link, hexkey, result, latency, cost)
        self._bus.emit3(_SET, self.name, short, "l1+l2" if stored else "l1")

    def _resolve(self, key: Hashable, fut: Flight, result: Any) -> None:
        self._release(key, fut)
        fut.set_result(result)

    def _release(self, key: Hashable, fut: Flight) -> None:
        """Stop offering ``fut`` to new callers (unless a flush already replaced it)."""
        inflight = self._inflight
        if inflight.get(key) is fut:
            del inflight[key]

    def _new_generation(self) -> None:
        """Entries and fills from before now are stale (a flush, an expiring TTL change):
        fills already running finish for the callers waiting on them but are not stored,
        and a new caller starts a fresh fill instead of joining one of them."""
        self._gen += 1
        self._inflight = {}

    # ---- L2 ---------------------------------------------------------------------------
    def _link(self) -> RedisLink | None:
        """The engine's Redis if this cache uses L2 and the engine has one."""
        return self._redis() if self.l2_enabled else None

    async def _l2_get(self, link: RedisLink, key: str) -> tuple[Any, float, float, float] | None:
        """``(value, age, latency, cost)`` from Redis, or None (miss, expired, error)."""
        if not link.up:
            self.l2_errors += 1  # skipped: the breaker is open
            return None
        try:
            found = await self._l2.get(link, key)
        except (RedisUnavailable, ValueError) as exc:  # a foreign/corrupt record is a miss
            self._l2_failed(exc)
            return None
        if found is None:
            return None
        value, stored_at, latency, cost = found
        age = self._wall() - stored_at
        if age >= self.ttl:  # stored under a longer TTL than the current one
            return None
        return value, max(age, 0.0), latency, cost

    async def _l2_set(
        self, link: RedisLink, key: str, result: Any, latency: float, cost: float
    ) -> bool:
        if not link.up:
            self.l2_errors += 1
            return False
        try:
            await self._l2.set(
                link, key, result, self._wall(), latency, cost, self.ttl, self.l2_max_bytes
            )
        except TooLarge:
            self.l2_too_large += 1
            return False
        except (TypeError, ValueError, OverflowError, RedisUnavailable) as exc:
            self._l2_failed(exc)  # unreachable, or not serialisable: this entry stays in L1
            return False
        return True

    def _l2_failed(self, exc: BaseException) -> None:
        self.l2_errors += 1
        self._bus.emit2(_L2_ERROR, self.name, str(exc)[:200])

    # ---- operator actions -------------------------------------------------------------
    async def flush(self, *, l2: bool = True, announce: bool = True) -> dict[str, Any]:
        """Drop every entry: L1, and this cache's keys in Redis (SCAN + UNLINK).

        Returns ``{"name", "l1", "l2"}``: counts removed (``l2`` is None without Redis
        or when Redis could not be reached). A fleet command, which reaches every engine
        itself, passes ``announce=False`` (and ``l2=False`` on all engines but one).
        """
        self._new_generation()
        n1 = self._store.clear()
        n2: int | None = None
        link = self._link() if l2 else None
        if link is not None:
            try:
                n2 = await self._l2.flush(link)
            except RedisUnavailable as exc:
                self._l2_failed(exc)
        self._bus.emit3(_FLUSH, self.name, n1, n2 or 0)
        if announce:
            await self._announce({"op": "cache.flush", "name": self.name})
        return {"name": self.name, "l1": n1, "l2": n2}

    def set_ttl(self, ttl: float, *, l2: bool = True, announce: bool = True) -> dict[str, Any]:
        """Change the TTL of stored and future entries; a shorter one expires old ones now.

        L1 is updated at once. L2 reads check the new TTL at once too; the Redis
        expiry of existing keys is re-timed by a background SCAN.
        """
        ttl = check_ttl(ttl)
        expired = self._apply_ttl(ttl)
        link = self._link() if l2 else None
        with contextlib.suppress(RuntimeError):  # no running loop: reads still check
            asyncio.get_running_loop()
            if link is not None:
                if self._retime is not None and not self._retime.done():
                    self._retime.cancel()
                self._retime = link.spawn(self._l2_retime(link, ttl))
            if announce:
                self._spawn(self._announce({"op": "cache.set_ttl", "name": self.name, "ttl": ttl}))
        return {"name": self.name, "ttl": ttl, "expired": expired}

    def _apply_ttl(self, ttl: float) -> int:
        self.ttl = ttl
        expired = self._store.set_ttl(ttl)
        if expired:
            # Entries were stale under the new TTL: a fill that began before the change
            # must not hand its result to new callers either (as after a flush).
            self._new_generation()
        self._bus.emit3(_CONFIG, self.name, ttl, self.max_size)
        return expired

    def set_max_size(self, max_size: int) -> dict[str, Any]:
        """Change the L1 capacity, evicting least recently used entries down to it now."""
        max_size = check_size(max_size)
        self.max_size = max_size
        evicted = self._store.resize(max_size)
        self._bus.emit3(_CONFIG, self.name, self.ttl, max_size)
        return {"name": self.name, "max_size": max_size, "evicted": evicted}

    def apply_settings(self, settings: CacheSettings) -> None:
        """Overrides from ``EngineSettings.caches[name]`` (applied at registration)."""
        if settings.ttl is not None:
            self.set_ttl(settings.ttl)
        if settings.max_size is not None:
            self.set_max_size(settings.max_size)
        if settings.l2 is not None:
            self.l2_enabled = settings.l2
        if settings.l2_max_bytes is not None:
            self.l2_max_bytes = settings.l2_max_bytes

    async def wait_writes(self) -> None:
        """Wait for in-flight fills and their L2 writes (tests, orderly shutdown)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
        if self._retime is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._retime

    async def astart(self) -> None:
        """Listen for fleet-wide flushes and TTL changes (when the engine has Redis)."""
        self._attach_control()

    async def aclose(self, grace: float = 2.0) -> None:
        """Stop listening; give in-flight fills ``grace`` seconds, then cancel them."""
        if self._control_remove is not None:
            self._control_remove()
            self._control_remove = None
        pending = list(self._writes)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # ---- the fleet: other engines on the same Redis ---------------------------------
    def _attach_control(self) -> None:
        link = self._redis()
        if link is not None and self._control_remove is None:
            self._control_remove = link.on_control(self._on_control)

    async def _announce(self, message: dict[str, Any]) -> None:
        """Tell same-named caches on other engines (best effort: pub/sub)."""
        link = self._redis()
        if link is None:
            return
        self._attach_control()
        try:
            await link.publish(message)
        except RedisUnavailable as exc:
            self._l2_failed(exc)

    def _on_control(self, message: dict[str, Any]) -> None:
        """Another engine flushed this cache or changed its TTL: follow in L1 (the
        sender already did the L2 part)."""
        if message.get("name") != self.name:
            return
        op = message.get("op")
        if op == "cache.flush":
            self._new_generation()
            self._bus.emit3(_FLUSH, self.name, self._store.clear(), 0)
        elif op == "cache.set_ttl":
            try:
                ttl = check_ttl(message.get("ttl"))
            except ValueError:
                return
            self._apply_ttl(ttl)

    async def _l2_retime(self, link: RedisLink, ttl: float) -> None:
        """Re-time this cache's L2 keys under ``ttl`` (see :meth:`CacheL2.retime`)."""
        try:
            await self._l2.retime(link, ttl, self._wall)
        except RedisUnavailable as exc:
            self._l2_failed(exc)

    # ---- introspection ----------------------------------------------------------------
    def _evicted(self, reason: str, count: int) -> None:
        self._bus.emit3(_EVICT, self.name, reason, count)

    @property
    def l2(self) -> bool:
        """True when L2 is in use: asked for, and the engine has Redis."""
        return self._link() is not None

    def stats(self) -> dict[str, Any]:
        hits = self.hits_l1 + self.hits_l2
        total = hits + self.misses + self.coalesced
        link = self._link()
        ev = self._store.evictions
        return {
            "hits": hits,
            "hits_l1": self.hits_l1,
            "hits_l2": self.hits_l2,
            "misses": self.misses,
            "coalesced": self.coalesced,
            "sets": self.sets,
            "evictions": {"lru": ev["lru"], "ttl": ev["ttl"], "resize": ev["resize"]},
            # Not a sweep: reading stats must not evict (and count) anything; "size"
            # leaves out the expired entries that a sweep would remove.
            "size": len(self._store) - self._store.expired_at_head(),
            "hit_rate": hits / total if total else 0.0,
            "l2_up": link is not None and link.up,
            "l2_errors": self.l2_errors,
            "l2_too_large": self.l2_too_large,
            "time_saved": self.time_saved,
            "cost_saved": self.cost_saved,
            "ttft": {
                src: dict(zip(("p50", "p95"), w.quantiles(0.5, 0.95), strict=True))
                for src, w in self.ttft_by_source.items()
            },
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "ttl": self.ttl,
            "max_size": self.max_size,
            "l2": self.l2,
            "l2_max_bytes": self.l2_max_bytes,
            "stats": self.stats(),
            "sources": self._sources(),
        }

    def children(self) -> tuple[Primitive, ...]:
        return (self.inner,)

    def __repr__(self) -> str:
        return f"Cache({self.name}: {self.inner!r})"


def _stream_blind(data: Any) -> Hashable:
    """The default key: the whole input, except a request's ``stream`` flag (``run`` and
    ``stream`` share entries)."""
    if type(data) is dict and "stream" in data:
        data = {k: v for k, v in data.items() if k != "stream"}
    return local_key(data)


def _keyed(fn: Callable[[Any], Any]) -> Callable[[Any], Hashable]:
    def key(data: Any) -> Hashable:
        return local_key(fn(data))

    return key


class Flight:
    """One miss being filled: the waiters for its result, each on a future of its own.

    ``join()`` hands out a waiter; ``set_result`` / ``set_exception`` / ``cancel``
    resolve every waiter still waiting, once. A cancelled waiter is just skipped, so no
    caller's cancellation reaches the shared call. ``short`` is the key shown in the
    flight's events, computed once per flight rather than once per waiter.
    """

    __slots__ = ("_loop", "_waiters", "done", "short")

    def __init__(self, short: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiters: list[asyncio.Future[Any]] = []
        self.done = False
        self.short = short

    def join(self) -> asyncio.Future[Any]:
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def set_result(self, result: Any) -> None:
        if self.done:
            return
        self.done = True
        for w in self._waiters:
            if not w.done():
                w.set_result(result)
        self._waiters.clear()

    def set_exception(self, exc: BaseException) -> None:
        if self.done:
            return
        self.done = True
        for w in self._waiters:
            if not w.done():
                w.set_exception(exc)
        self._waiters.clear()

    def cancel(self) -> None:
        if self.done:
            return
        self.done = True
        for w in self._waiters:
            w.cancel()
        self._waiters.clear()
