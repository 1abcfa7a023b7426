"""Memory's Redis replication: write-through, a pending queue, load on start.

Why its own module: the ordering rules (what a write during an outage, a clear during
a load or an eviction before the first load must do) are the hard part of a
replicated Memory and have nothing to do with keyword search.

Every ``add`` / eviction / ``clear`` is written to the hash
``flowdeck:memory:<namespace>`` before it returns. A write that cannot reach Redis is
kept in a pending queue (in order) and written when Redis comes back, so losing Redis
loses no entry (after an outage, local entries a restarted Redis lacks are written
back too). On start the replica loads what Redis holds for the namespace, as older
than anything added locally; a ``clear`` also clears the local copies of other
engines on the namespace (pub/sub).

Across engines: every write-through add is announced in the same round trip (a
PUBLISH in the pipeline, ``op: "memory.put"``, with the record when it is small), so
another engine's memory on the namespace takes the entry (and indexes it for search)
within a round trip; a large record is fetched with one HGET. Reading the hash
(the load at start, and the reconciliation after an outage that finds which local
entries a restarted Redis lacks) pages through it with HSCAN, one page per call, each
page retried with backoff: never one HKEYS / HGETALL over a 200k-field hash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Container, Iterable
from itertools import islice
from typing import Any, Protocol

from flowdeck.engine.backoff import Backoff
from flowdeck.engine.stores import codec
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable

DELETE: Any = object()  # a pending removal
DRAIN_BATCH = 500
SCAN_PAGE = 1000  # fields per HSCAN call
SCAN_RETRIES = 5  # attempts per page before a read gives up (counted)
ANNOUNCE_MAX = 8192  # bytes of a record carried in its announcement; larger ones: HGET
RETRY_MIN, RETRY_MAX = 0.05, 1.0  # seconds between drain attempts while Redis is "up"

Op = tuple[str, Any]  # (key, encoded record | DELETE)


class ReplicatedStore(Protocol):
    """What the replica needs from the local store it mirrors (the Memory)."""

    def records(self) -> Iterable[tuple[str, Any, float]]:
        """Every local entry as ``(key, value, added_at)``."""
        ...

    def reload(self, loaded: list[tuple[float, str, Any]], skip: Container[str]) -> None:
        """Take in ``(added_at, key, value)`` from Redis (oldest first) as older than
        every local entry, leaving out keys in ``skip`` and keys held locally."""
        ...

    def clear_local(self) -> int:
        """Drop every local entry (another engine cleared the namespace)."""
        ...

    def take_remote(self, key: str, value: Any, added_at: float) -> bool:
        """An entry another engine added: keep it unless ours is as new (no Redis write)."""
        ...


class MemoryReplica:
    """Keeps one namespace's hash in Redis in step with a local store."""

    def __init__(
        self, namespace: str, store: ReplicatedStore, link: Callable[[], RedisLink | None]
    ) -> None:
        self.key = f"flowdeck:memory:{namespace}"
        self.namespace = namespace
        self._store = store
        self.link = link  # the host's RedisLink now, or None (not bound / no redis_url)
        # Redis writes not yet done, in order: key -> encoded record or DELETE.
        self._pending: dict[str, Any] = {}
        self._pending_clear = False
        self.loaded = False
        # Until the first load from Redis is done: keys the store removed (they must
        # not come back from Redis) and a count of clears (a clear voids the load).
        self._dropped: set[str] = set()
        self._clears = 0
        self._drain_task: asyncio.Task[None] | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._remove_control: Callable[[], None] | None = None
        self.errors = 0
        self.remote_puts = 0  # entries taken from other engines' announcements
        self.reconciles = 0  # full reads of the hash after start or an outage
        self.scan_pages = 0
        self.scan_retries = 0
        self.scan_failures = 0  # reads that gave up after SCAN_RETRIES on one page

    @property
    def pending(self) -> int:
        """Writes waiting for Redis (a pending clear counts as one)."""
        return len(self._pending) + (1 if self._pending_clear else 0)

    # ---- what the store tells us ------------------------------------------------------
    def note_evicted(self, keys: Iterable[str]) -> None:
        """The store dropped ``keys``: a load still to come must not bring them back."""
        if not self.loaded:
            self._dropped.update(keys)

    def note_cleared(self) -> None:
        self._clears += 1
        self._dropped.clear()

    # ---- writes -----------------------------------------------------------------------
    async def write(self, link: RedisLink, key: str, blob: bytes, evicted: list[str]) -> None:
        """Write ``key``'s record and delete ``evicted`` (or queue them, keeping order)."""
        self.attach(link)
        ops: list[Op] = [(key, blob)]
        ops.extend((k, DELETE) for k in evicted if k != key)
        if self._pending or self._pending_clear or not link.up:
            self._queue(ops)
            return
        note: dict[str, Any] = {"op": "memory.put", "namespace": self.namespace, "key": key}
        note["record"] = blob if len(blob) <= ANNOUNCE_MAX else None
        announce = (link.channel, link.pack_control(note))
        try:
            await link.run(lambda c: _apply(c, self.key, ops, announce))
        except RedisUnavailable:
            self.errors += 1
            self._queue(ops)

    async def clear(self, link: RedisLink, *, announce: bool = True) -> None:
        """Delete the hash (after any queued writes are void) and tell other engines
        (not for a fleet command, which reaches every engine itself)."""
        self.attach(link)
        self._pending.clear()
        self._pending_clear = True
        await self._flush_pending()
        if not announce:
            return
        try:
            await link.publish({"op": "memory.clear", "namespace": self.namespace})
        except RedisUnavailable:
            self.errors += 1

    def _queue(self, ops: list[Op]) -> None:
        pending = self._pending
        for k, op in ops:
            pending.pop(k, None)  # re-insert at the end: the newest write wins
            pending[k] = op
        self._kick()

    def _kick(self) -> None:
        """Start a drain if Redis is up (otherwise the link's recovery will start one)."""
        link = self.link()
        if link is None or not link.up:
            return
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = link.spawn(self._drain(link))

    async def _drain(self, link: RedisLink) -> None:
        """Write pending operations in order until none are left.

        A failure while the breaker is still closed is retried with backoff (each
        failure counts toward opening it); once it is open, the link's recovery
        listener starts the drain again.
        """
        backoff = Backoff(RETRY_MIN, RETRY_MAX)
        while link.up and (self._pending_clear or self._pending):
            try:
                if self._pending_clear:
                    await link.run(lambda c: c.unlink(self.key))
                    self._pending_clear = False
                    continue
                batch = list(islice(self._pending.items(), DRAIN_BATCH))
                await link.run(lambda c, b=batch: _apply(c, self.key, b))  # type: ignore[misc]  # lambda with a default-arg capture
            except RedisUnavailable:
                self.errors += 1
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            pending = self._pending
            for k, op in batch:
                if pending.get(k) is op:
                    del pending[k]

    async def _flush_pending(self) -> None:
        """Start (or join) the drain and wait for it, if Redis is up."""
        self._kick()
        task = self._drain_task
        if task is not None and not task.done():
            await asyncio.shield(task)

    # ---- sync with Redis --------------------------------------------------------------
    def attach(self, link: RedisLink) -> None:
        """Listen for Redis recovery; load and drain now if we never did.

        :meth:`start` does this on engine start; a memory first used on an engine that
        did not start it attaches here instead.
        """
        if self._remove_listener is not None:
            return
        self._listen(link)
        if link.up:
            link.spawn(self._on_up())

    def _listen(self, link: RedisLink) -> None:
        self._remove_listener = link.on_up(self._on_up)
        self._remove_control = link.on_control(self._on_control)

    def _on_control(self, message: dict[str, Any]) -> None:
        """Another engine cleared this namespace (and Redis): clear the local copy; or
        added an entry: take it."""
        if message.get("namespace") != self.namespace:
            return
        op = message.get("op")
        if op == "memory.clear":
            self._store.clear_local()
        elif op == "memory.put" and isinstance(message.get("key"), str):
            record = message.get("record")
            if isinstance(record, bytes):
                self._take(message["key"], record)
            else:
                link = self.link()
                if link is not None:
                    link.spawn(self._fetch(link, message["key"]))

    def _take(self, key: str, blob: bytes) -> None:
        try:
            value, added_at, _, _ = codec.unpack_record(blob)
        except ValueError:
            self.errors += 1
            return
        if self._store.take_remote(key, value, added_at):
            self.remote_puts += 1

    async def _fetch(self, link: RedisLink, key: str) -> None:
        try:
            blob = await link.run(lambda c: c.hget(self.key, key))
        except RedisUnavailable:
            self.errors += 1
            return
        if isinstance(blob, bytes):
            self._take(key, blob)

    async def _scan(self, link: RedisLink, *, values: bool) -> list[tuple[Any, Any]] | None:
        """Every field (with its value if ``values``) of the hash, one HSCAN page per
        call; a failed page is retried with backoff. None if a page kept failing.
        (HSCAN NOVALUES needs Redis 7.4: values come back and are dropped here.)"""
        out: list[tuple[Any, Any]] = []
        cursor = 0
        backoff = Backoff(RETRY_MIN, RETRY_MAX)
        while True:
            try:
                cursor, chunk = await link.run(
                    lambda c, at=cursor: c.hscan(self.key, cursor=at, count=SCAN_PAGE)  # type: ignore[misc]  # lambda with a default-arg capture
                )
            except RedisUnavailable:
                self.errors += 1
                if backoff.attempts + 1 >= SCAN_RETRIES or not link.up:
                    self.scan_failures += 1
                    return None
                self.scan_retries += 1
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            self.scan_pages += 1
            page: dict[Any, Any] = chunk if isinstance(chunk, dict) else dict.fromkeys(chunk)
            out.extend(page.items() if values else ((f, None) for f in page))
            if cursor == 0:
                self.reconciles += 1  # a complete read
                return out

    async def _on_up(self) -> None:
        """Redis is reachable (engine start or recovery): sync, then drain."""
        link = self.link()
        if link is None:
            return
        there = await (self._load(link) if not self.loaded else self._remote_keys(link))
        if there is not None:
            self._requeue_missing(there)
        await self._flush_pending()

    async def _remote_keys(self, link: RedisLink) -> set[str] | None:
        fields = await self._scan(link, values=False)
        if fields is None:
            return None
        return {f.decode() if isinstance(f, bytes) else str(f) for f, _ in fields}

    def _requeue_missing(self, there: set[str]) -> None:
        """Queue local entries Redis does not have.

        A Redis that restarted without persistence comes back empty: the entries the
        store still holds go back, so losing Redis loses nothing we hold.
        """
        if self._pending_clear:
            return
        pending = self._pending
        for k, value, added_at in self._store.records():
            if k not in there and k not in pending:
                pending[k] = codec.pack_record(value, added_at)

    async def _load(self, link: RedisLink) -> set[str] | None:
        """Hand the entries Redis holds to the store (oldest first); returns the keys
        Redis holds (None if it could not be read)."""

        clears = self._clears
        raw = await self._scan(link, values=True)
        if raw is None:
            return None
        if clears != self._clears or self._pending_clear:
            # Cleared here while (or before) reading: what Redis held is gone.
            self.loaded = True
            self._dropped.clear()
            return None
        there: set[str] = set()
        records = []
        for field, blob in raw:
            key = field.decode() if isinstance(field, bytes) else str(field)
            there.add(key)
            try:
                value, added_at, _, _ = codec.unpack_record(blob)
            except ValueError:
                self.errors += 1
                continue
            records.append((added_at, key, value))
        records.sort(key=lambda r: r[0])
        self.loaded = True
        skip = self._pending.keys() | self._dropped
        self._dropped.clear()
        self._store.reload(records, skip)
        return there

    # ---- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Load the namespace from Redis and drain pending writes when Redis returns."""
        link = self.link()
        if link is None or self._remove_listener is not None:
            return
        self._listen(link)
        if link.up:
            await self._on_up()

    async def close(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._remove_control is not None:
            self._remove_control()
            self._remove_control = None
        task = self._drain_task
        if task is not None and not task.done():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 2.0)


async def _apply(
    client: Any, rkey: str, ops: list[Op], announce: tuple[str, bytes] | None = None
) -> None:
    """One round trip: HSET the additions, HDEL the removals, in order (then PUBLISH
    ``announce`` = (channel, payload), if given)."""
    pipe = client.pipeline(transaction=False)
    for k, op in ops:
        if op is DELETE:
            pipe.hdel(rkey, k)
        else:
            pipe.hset(rkey, k, op)
    if announce is not None:
        pipe.publish(*announce)
    await pipe.execute()
