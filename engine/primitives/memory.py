"""Memory: a bounded key-value store with keyword search, optionally kept in Redis.

Search is served from an inverted index (word -> keys, in the order they were added),
so its cost depends on the posting lists of the query words, never on the number of
entries. Words are the case-folded ``\\w+`` runs of string values, of the string
fields of dict values and of a Completion's text; other values are stored and
returned by ``get`` but are not searchable.

With Redis (``l2=True`` and an engine with ``redis_url``) the memory is write-through:
every ``add`` / eviction / ``clear`` is written to the hash
``flowdeck:memory:<namespace>`` before it returns. A write that cannot reach Redis is
kept in a pending queue (in order) and written when Redis comes back, so losing Redis
loses no entry (after an outage, local entries a restarted Redis lacks are written
back too). On engine start the memory loads what Redis holds for its namespace, as
older than anything added here, so a second engine sees the first one's entries; a
``clear`` also clears the local copies of other engines on the namespace (pub/sub).
Entries added later by other engines are not pushed here (load happens at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from flowdeck.engine.completion import Completion
from flowdeck.engine.context import Context
from flowdeck.engine.primitives.base import Primitive
from flowdeck.engine.stores import codec
from flowdeck.engine.stores.keys import digest
from flowdeck.engine.stores.lru import check_size
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable
from flowdeck.engine.telemetry.events import EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

_perf = time.perf_counter
_WORD = re.compile(r"\w+")
_DELETE: Any = object()  # a pending removal
_DRAIN_BATCH = 500
_WALK_BUDGET = 256  # keys walked before looking for all-words matches by intersection
_RETRY_MIN, _RETRY_MAX = 0.05, 1.0  # seconds between drain attempts while Redis is "up"


def words_of(value: Any) -> frozenset[str]:
    """The searchable words of a value (see the module docstring)."""
    if isinstance(value, str):
        return frozenset(_WORD.findall(value.casefold()))
    if isinstance(value, dict):
        words: set[str] = set()
        for v in value.values():
            if isinstance(v, str):
                words.update(_WORD.findall(v.casefold()))
        return frozenset(words)
    if isinstance(value, Completion):
        return frozenset(_WORD.findall(value.text.casefold()))
    return frozenset()


class Memory(Primitive):
    """Keep up to ``max_size`` entries (oldest evicted first) and find them by keyword.

    ``add`` and ``clear`` are coroutines (they write through to Redis); ``get`` and
    ``search`` are plain calls on local state.
    """

    kind = "memory"

    def __init__(
        self,
        *,
        name: str,
        namespace: str | None = None,
        max_size: int = 10_000,
        l2: bool = False,
        recall: int = 5,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Memory name must be a non-empty string, got {name!r}")
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise ValueError(f"Memory namespace must be a non-empty string, got {namespace!r}")
        if isinstance(recall, bool) or not isinstance(recall, int) or recall < 1:
            raise ValueError(f"Memory recall must be a positive integer, got {recall!r}")
        self.name = name
        self.namespace = namespace or name
        self.max_size = check_size(max_size)
        self.l2_enabled = bool(l2)
        self.recall = recall
        # key -> (seq, value, words, added_at); oldest first (re-adding moves to the end)
        self._entries: OrderedDict[str, tuple[int, Any, frozenset[str], float]] = OrderedDict()
        # word -> keys holding it, oldest first (a dict used as an ordered set)
        self._index: dict[str, dict[str, None]] = {}
        self._seq = 0
        self._rkey = f"flowdeck:memory:{self.namespace}"
        # Redis writes not yet done, in order: key -> encoded record or _DELETE.
        self._pending: dict[str, Any] = {}
        self._pending_clear = False
        self._loaded = False
        # Until the first load from Redis is done: keys this memory removed (they must
        # not come back from Redis) and a count of clears (a clear voids the load).
        self._dropped: set[str] = set()
        self._clears = 0
        self._drain_task: asyncio.Task[None] | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._remove_control: Callable[[], None] | None = None
        self.adds = 0
        self.searches = 0
        self.l2_errors = 0
        self.search_latency = LatencyWindow(512)

    # ---- reads ------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, default: Any = None) -> Any:
        entry = self._entries.get(key)
        return default if entry is None else entry[1]

    def search(self, keywords: str | Iterable[str], limit: int = 10) -> list[dict[str, Any]]:
        """Entries matching any of ``keywords``, best first: ``[{"key", "value", "score"}]``.

        ``score`` is how many distinct keywords an entry holds; ties go to the most
        recently added. ``keywords`` is a string (split into words) or strings.
        Cost: the posting lists of the query words except the longest one, plus
        ``limit``; never all entries.
        """
        t0 = _perf()
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        words = _query_words(keywords)
        nwords = len(words)
        ranked = self._rank(words, limit)
        entries = self._entries
        out = [{"key": k, "value": entries[k][1], "score": s} for k, s in ranked]
        dt = _perf() - t0
        self.searches += 1
        self.search_latency.record(dt)
        self._bus.emit4(EventKind.MEMORY_SEARCH, self.name, nwords, len(out), dt)
        return out

    def _rank(self, words: list[str], limit: int) -> list[tuple[str, int]]:
        """The best ``limit`` keys as ``(key, score)``, level by level.

        A key holding ``c`` of the ``k`` words is in at least one of the ``k - c + 1``
        shortest posting lists. So for c = k, k-1, ..., 1 each of those lists is walked
        newest first (posting lists are in insertion order) until it has yielded the
        number of keys still needed; a new key's score is counted by membership tests.
        The newest of the keys found across those lists are the next results. Keys
        scoring more than ``c`` were all found at earlier levels (a level that comes
        up short has walked its lists to the end). Common words therefore cost little:
        a walk ends after ``limit`` hits. When keys holding every word are rare, the
        top level gives up walking after ``_WALK_BUDGET`` keys and intersects the
        lists in C instead.
        """
        index = self._index
        postings = [p for w in words if (p := index.get(w))]
        if not postings:
            return []
        postings.sort(key=len)
        k = len(postings)
        entries = self._entries
        scores: dict[str, int] = {}
        found: list[tuple[str, int]] = []
        taken: set[str] = set()
        for level in range(k, 0, -1):
            need = limit - len(found)
            level_hits: dict[str, int] = {}
            budget = _WALK_BUDGET if level == k > 1 else None
            if not self._walk(postings, level, need, taken, scores, level_hits, budget):
                # Keys holding every word are rare here: intersect the lists in C rather
                # than walk the whole of the shortest one in Python.
                common: Any = postings[0].keys() & postings[1].keys()
                for p in postings[2:]:
                    common = [x for x in common if x in p]
                level_hits = dict.fromkeys(common, k)
            # entries[key] starts with the key's unique sequence number: newest = largest
            if len(level_hits) > need:
                newest = heapq.nlargest(need, level_hits, key=entries.__getitem__)
            else:
                newest = sorted(level_hits, key=entries.__getitem__, reverse=True)
            for key in newest:
                taken.add(key)
                found.append((key, level_hits[key]))
            if len(found) == limit:
                break
        return found

    @staticmethod
    def _walk(
        postings: list[dict[str, None]],
        level: int,
        need: int,
        taken: set[str],
        scores: dict[str, int],
        level_hits: dict[str, int],
        budget: int | None = None,
    ) -> bool:
        """Walk the lists that can hold keys scoring ``level``, newest first, until each
        has yielded ``need`` of them; collect those keys in ``level_hits``.

        With a ``budget`` (keys looked at per list), returns False if it ran out first.
        """
        for posting in postings[: len(postings) - level + 1]:
            got = 0
            keys = reversed(posting)
            if budget is not None and len(posting) > budget:
                keys = islice(keys, budget)
                complete = False
            else:
                complete = True
            for key in keys:
                if key in taken:
                    continue
                if key in level_hits:
                    got += 1
                else:
                    score = scores.get(key)
                    if score is None:
                        score = 0
                        for p in postings:
                            if key in p:
                                score += 1
                        scores[key] = score
                    if score < level:
                        continue
                    level_hits[key] = score
                    got += 1
                if got == need:
                    complete = True
                    break
            if not complete:
                return False
        return True

    # ---- writes -----------------------------------------------------------------------
    async def add(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (replacing and refreshing an existing entry)."""
        if not isinstance(key, str):
            raise TypeError(f"Memory keys are strings, got {type(key).__name__}")
        link = self._link()
        added_at = time.time()
        # Encode first: an unstorable value raises TypeError before anything changes.
        blob = codec.pack_record(value, added_at) if link is not None else b""
        evicted = self._put(key, value, added_at)
        self.adds += 1
        self._bus.emit2(EventKind.MEMORY_ADD, self.name, key)
        if link is not None:
            self._attach(link)
            ops: list[tuple[str, Any]] = [(key, blob)]
            ops.extend((k, _DELETE) for k in evicted if k != key)
            await self._write(link, ops)

    async def clear(self) -> int:
        """Remove every entry, here and in Redis; returns how many were here.

        Other engines' memories on the same namespace clear their local copy too
        (a control message over Redis pub/sub).
        """
        n = self._clear_local()
        link = self._link()
        if link is not None:
            self._attach(link)
            self._pending.clear()
            self._pending_clear = True
            await self._flush_pending()
            try:
                await link.publish({"op": "memory.clear", "namespace": self.namespace})
            except RedisUnavailable:
                self.l2_errors += 1
        return n

    def _clear_local(self) -> int:
        n = len(self._entries)
        self._entries.clear()
        self._index.clear()
        self._clears += 1
        self._dropped.clear()
        self._bus.emit2(EventKind.MEMORY_CLEAR, self.name, n)
        return n

    def _on_control(self, message: dict[str, Any]) -> None:
        """Another engine cleared this namespace (and Redis): clear the local copy."""
        if message.get("op") == "memory.clear" and message.get("namespace") == self.namespace:
            self._clear_local()

    def _put(self, key: str, value: Any, added_at: float) -> list[str]:
        """Insert locally, update the index, evict the oldest; returns evicted keys."""
        entries, index = self._entries, self._index
        old = entries.pop(key, None)
        if old is not None:
            self._unindex(key, old[2])
        self._seq += 1
        words = words_of(value)
        entries[key] = (self._seq, value, words, added_at)
        for w in words:
            posting = index.get(w)
            if posting is None:
                index[w] = {key: None}
            else:
                posting[key] = None
        evicted: list[str] = []
        while len(entries) > self.max_size:
            k, e = entries.popitem(last=False)
            self._unindex(k, e[2])
            evicted.append(k)
        if evicted and not self._loaded and self.l2_enabled:
            self._dropped.update(evicted)
        return evicted

    def _unindex(self, key: str, words: frozenset[str]) -> None:
        index = self._index
        for w in words:
            posting = index.get(w)
            if posting is not None:
                posting.pop(key, None)
                if not posting:
                    del index[w]

    # ---- Redis ------------------------------------------------------------------------
    def _link(self) -> RedisLink | None:
        """The engine's Redis if this memory writes through to it."""
        return self._redis() if self.l2_enabled else None

    @property
    def l2(self) -> bool:
        return self._link() is not None

    async def _write(self, link: RedisLink, ops: list[tuple[str, Any]]) -> None:
        """Write through, or queue (keeping order) when Redis is down or a drain runs."""
        if self._pending or self._pending_clear or not link.up:
            self._queue(ops)
            return
        try:
            await link.run(lambda c: _apply(c, self._rkey, ops))
        except RedisUnavailable:
            self.l2_errors += 1
            self._queue(ops)

    def _queue(self, ops: list[tuple[str, Any]]) -> None:
        pending = self._pending
        for k, op in ops:
            pending.pop(k, None)  # re-insert at the end: the newest write wins
            pending[k] = op
        self._kick()

    def _kick(self) -> None:
        """Start a drain if Redis is up (otherwise the link's recovery will start one)."""
        link = self._link()
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
        delay = _RETRY_MIN
        while link.up and (self._pending_clear or self._pending):
            try:
                if self._pending_clear:
                    await link.run(lambda c: c.unlink(self._rkey))
                    self._pending_clear = False
                    continue
                batch = list(islice(self._pending.items(), _DRAIN_BATCH))
                await link.run(lambda c, b=batch: _apply(c, self._rkey, b))  # type: ignore[misc]
            except RedisUnavailable:
                self.l2_errors += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            delay = _RETRY_MIN
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

    def _attach(self, link: RedisLink) -> None:
        """Listen for Redis recovery; load and drain now if we never did.

        ``astart`` does this on engine start; a memory first used on an engine that
        did not call ``astart`` attaches here instead.
        """
        if self._remove_listener is not None:
            return
        self._remove_listener = link.on_up(self._on_up)
        self._remove_control = link.on_control(self._on_control)
        if link.up:
            link.spawn(self._on_up())

    async def _on_up(self) -> None:
        """Redis is reachable (engine start or recovery): sync, then drain."""
        link = self._link()
        if link is None:
            return
        there = await (self._load(link) if not self._loaded else self._remote_keys(link))
        if there is not None:
            self._requeue_missing(there)
        await self._flush_pending()

    async def _remote_keys(self, link: RedisLink) -> set[str] | None:
        try:
            fields = await link.run(lambda c: c.hkeys(self._rkey))
        except RedisUnavailable:
            self.l2_errors += 1
            return None
        return {f.decode() if isinstance(f, bytes) else str(f) for f in fields}

    def _requeue_missing(self, there: set[str]) -> None:
        """Queue local entries Redis does not have.

        A Redis that restarted without persistence comes back empty: the entries this
        memory still holds go back, so losing Redis loses nothing we hold.
        """
        if self._pending_clear:
            return
        pending = self._pending
        for k, e in self._entries.items():
            if k not in there and k not in pending:
                pending[k] = codec.pack_record(e[1], e[3])

    async def _load(self, link: RedisLink) -> set[str] | None:
        """Take in the entries Redis holds (oldest first) that are not already here;
        returns the keys Redis holds (None if it could not be read)."""

        async def fetch(client: Any) -> list[tuple[Any, bytes]]:
            out: list[tuple[Any, bytes]] = []
            cursor = 0
            while True:
                cursor, chunk = await client.hscan(self._rkey, cursor=cursor, count=1000)
                out.extend(chunk.items())
                if cursor == 0:
                    return out

        clears = self._clears
        try:
            raw = await link.run(fetch)
        except RedisUnavailable:
            self.l2_errors += 1
            return None
        if clears != self._clears or self._pending_clear:
            # Cleared here while (or before) reading: what Redis held is gone.
            self._loaded = True
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
                self.l2_errors += 1
                continue
            records.append((added_at, key, value))
        records.sort(key=lambda r: r[0])
        self._loaded = True
        skip = self._entries.keys() | self._pending.keys() | self._dropped
        self._dropped.clear()
        # Rebuild in age order: what Redis held is older than anything added here since
        # start. Beyond max_size the oldest loaded entries stay out (Redis keeps them:
        # another engine may have room; only our own writes delete).
        local = list(self._entries.items())
        self._entries = OrderedDict()
        self._index = {}
        for added_at, key, value in records:
            if key not in skip:
                self._put(key, value, added_at)
        for key, (_, value, _, added_at) in local:
            self._put(key, value, added_at)
        return there

    # ---- lifecycle --------------------------------------------------------------------
    async def astart(self) -> None:
        """Load this namespace from Redis and drain pending writes when Redis returns."""
        link = self._link()
        if link is None:
            return
        if self._remove_listener is None:
            self._remove_listener = link.on_up(self._on_up)
            self._remove_control = link.on_control(self._on_control)
            if link.up:
                await self._on_up()

    async def aclose(self) -> None:
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

    # ---- as a step in a flow ----------------------------------------------------------
    async def execute(self, data: Any, ctx: Context) -> Any:
        """Recall, then remember.

        For a dict with a string ``"prompt"`` (or a bare string, taken as the prompt):
        search for the prompt's words, return ``{**data, "memory": [values of the
        top matches]}`` (at most ``recall`` of them, best first), then add the prompt
        itself under the key ``digest(prompt)``. Anything else passes through
        unchanged.
        """
        if isinstance(data, str):
            data = {"prompt": data}
        elif not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            return data
        prompt: str = data["prompt"]
        found = self.search(prompt, self.recall)
        await self.add(digest(prompt), prompt)
        return {**data, "memory": [hit["value"] for hit in found]}

    # ---- introspection ----------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return {
            "size": len(self._entries),
            "adds": self.adds,
            "searches": self.searches,
            "search_p50": self.search_latency.quantile(0.5),
            "pending_l2": len(self._pending) + (1 if self._pending_clear else 0),
            "l2_errors": self.l2_errors,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "namespace": self.namespace,
            "max_size": self.max_size,
            "l2": self.l2,
            "stats": self.stats(),
        }

    def __repr__(self) -> str:
        return f"Memory({self.name})"


def _query_words(keywords: str | Iterable[str]) -> list[str]:
    if isinstance(keywords, str):
        return list(dict.fromkeys(_WORD.findall(keywords.casefold())))
    words: dict[str, None] = {}
    for kw in keywords:
        if not isinstance(kw, str):
            raise TypeError(f"keywords must be strings, got {type(kw).__name__}")
        for w in _WORD.findall(kw.casefold()):
            words[w] = None
    return list(words)


async def _apply(client: Any, rkey: str, ops: list[tuple[str, Any]]) -> None:
    """One round trip: HSET the additions, HDEL the removals, in order."""
    pipe = client.pipeline(transaction=False)
    for k, op in ops:
        if op is _DELETE:
            pipe.hdel(rkey, k)
        else:
            pipe.hset(rkey, k, op)
    await pipe.execute()
