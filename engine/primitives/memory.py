"""Memory: a bounded key-value store with keyword search, optionally kept in Redis.

Search is served from an inverted index (:mod:`flowdeck.engine.stores.word_index`),
so its cost depends on the posting lists of the query words, never on the number of
entries; that module says which words of a value are searchable.

With Redis (``l2=True`` and an engine with ``redis_url``) the memory is write-through
(:mod:`flowdeck.engine.stores.memory_replica`): every ``add`` / eviction / ``clear``
reaches the hash ``<fleet>:memory:<namespace>`` before it returns, or waits in order
for Redis to come back. On engine start the memory loads what Redis holds for its
namespace, as older than anything added here; a ``clear`` also clears other engines'
local copies, and an entry another engine adds arrives here by announcement.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Container, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from flowdeck.engine.context import Context
from flowdeck.engine.errors import BadParams
from flowdeck.engine.primitives.base import Primitive
from flowdeck.engine.stores import codec
from flowdeck.engine.stores.keys import digest
from flowdeck.engine.stores.lru import check_size
from flowdeck.engine.stores.memory_replica import MemoryReplica
from flowdeck.engine.stores.redis_link import RedisLink
from flowdeck.engine.stores.word_index import WordIndex, query_words, words_of
from flowdeck.engine.telemetry.events import EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

if TYPE_CHECKING:
    from flowdeck.engine.primitives.host import Host

_perf = time.perf_counter

Entry = tuple[int, Any, frozenset[str], float]  # (seq, value, words, added_at)


class Memory(Primitive):
    """Keep up to ``max_size`` entries and find them by keyword.

    Eviction is least recently used: ``add``, ``get`` and being returned by ``search``
    all count as use, so a recalled turn stays while untouched ones go.

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
        # key -> entry; least recently used first (add, get and search hits move a key
        # to the end); the entry's seq is its insertion order, for search tie-breaks
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._index = WordIndex()
        self._seq = 0
        self._replica = MemoryReplica(self.namespace, self, self._redis) if l2 else None
        self.adds = 0
        self.searches = 0
        self.search_latency = LatencyWindow(512)

    def bind(self, host: Host) -> None:
        super().bind(host)
        if self._replica is not None:
            self._replica.key = host.scope.memory_key(self.namespace)  # its fleet

    # ---- reads ------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key`` (a hit makes it the most recently used)."""
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            return default
        entries.move_to_end(key)
        return entry[1]

    def search(self, keywords: str | Iterable[str], limit: int = 10) -> list[dict[str, Any]]:
        """Entries matching any of ``keywords``, best first: ``[{"key", "value", "score"}]``.

        ``score`` is how many distinct keywords an entry holds; ties go to the most
        recently added. ``keywords`` is a string (split into words) or strings.
        Cost: the posting lists of the query words except the longest one, plus
        ``limit``; never all entries.
        """
        t0 = _perf()
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise BadParams(f"limit must be a positive integer, got {limit!r}")
        words = query_words(keywords)
        entries = self._entries
        # the index holds each key's unique sequence number: newest = largest
        ranked = self._index.rank(words, limit, len(entries))
        out = [{"key": k, "value": entries[k][1], "score": s} for k, s in ranked]
        for k, _ in ranked:  # a recalled entry is in use: the last to be evicted
            entries.move_to_end(k)
        dt = _perf() - t0
        self.searches += 1
        self.search_latency.record(dt)
        self._bus.emit4(EventKind.MEMORY_SEARCH, self.name, len(words), len(out), dt)
        return out

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
        if link is not None and self._replica is not None:
            await self._replica.write(link, key, blob, evicted)

    async def clear(self, *, announce: bool = True) -> int:
        """Remove every entry, here and in Redis; returns how many were here.

        Other engines' memories on the same namespace clear their local copy too
        (a control message over Redis pub/sub; not for a fleet command, which
        reaches every engine itself: ``announce=False``).
        """
        n = self.clear_local()
        link = self._link()
        if link is not None and self._replica is not None:
            await self._replica.clear(link, announce=announce)
        return n

    def clear_local(self) -> int:
        """Drop every local entry (Redis untouched); returns how many there were."""
        n = len(self._entries)
        self._entries.clear()
        self._index.clear()
        if self._replica is not None:
            self._replica.note_cleared()
        self._bus.emit2(EventKind.MEMORY_CLEAR, self.name, n)
        return n

    def _put(self, key: str, value: Any, added_at: float) -> list[str]:
        """Insert locally, update the index, evict the least recently used; returns
        evicted keys."""
        entries, index = self._entries, self._index
        old = entries.pop(key, None)
        if old is not None:
            index.remove(key, old[2], old[0])
        self._seq += 1
        words = words_of(value)
        entries[key] = (self._seq, value, words, added_at)
        index.add(key, words, self._seq)
        evicted: list[str] = []
        while len(entries) > self.max_size:
            k, e = entries.popitem(last=False)
            index.remove(k, e[2], e[0])
            evicted.append(k)
        if evicted and self._replica is not None:
            self._replica.note_evicted(evicted)
        return evicted

    # ---- what the replica reads and writes --------------------------------------------
    def records(self) -> Iterator[tuple[str, Any, float]]:
        for key, (_, value, _, added_at) in self._entries.items():
            yield key, value, added_at

    def take_remote(self, key: str, value: Any, added_at: float) -> bool:
        """Another engine added ``key``: take it (indexed for search) unless the entry
        here is as new. Evictions it causes stay local (Redis keeps those entries)."""
        mine = self._entries.get(key)
        if mine is not None and mine[3] >= added_at:
            return False
        self._put(key, value, added_at)
        return True

    def reload(self, loaded: list[tuple[float, str, Any]], skip: Container[str]) -> None:
        """Rebuild in age order: what Redis held is older than anything added here.

        Beyond ``max_size`` the oldest loaded entries stay out (Redis keeps them:
        another engine may have room; only our own writes delete).
        """
        local = list(self.records())
        self._entries = OrderedDict()
        self._index = WordIndex()
        held = {key for key, _, _ in local}
        for added_at, key, value in loaded:
            if key not in skip and key not in held:
                self._put(key, value, added_at)
        for key, value, added_at in local:
            self._put(key, value, added_at)

    # ---- Redis ------------------------------------------------------------------------
    def _link(self) -> RedisLink | None:
        """The engine's Redis if this memory writes through to it."""
        return self._redis() if self._replica is not None else None

    @property
    def l2(self) -> bool:
        return self._link() is not None

    # ---- lifecycle --------------------------------------------------------------------
    async def astart(self) -> None:
        """Load this namespace from Redis and drain pending writes when Redis returns."""
        if self._replica is not None:
            await self._replica.start()

    async def aclose(self) -> None:
        if self._replica is not None:
            await self._replica.close()

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
        rep = self._replica
        return {
            "size": len(self._entries),
            "adds": self.adds,
            "searches": self.searches,
            "search_p50": self.search_latency.quantile(0.5),
            "pending_l2": rep.pending if rep is not None else 0,
            "l2_errors": rep.errors if rep is not None else 0,
            "remote_puts": rep.remote_puts if rep is not None else 0,
            "reconciles": rep.reconciles if rep is not None else 0,
            "scan_retries": rep.scan_retries if rep is not None else 0,
            "scan_failures": rep.scan_failures if rep is not None else 0,
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
