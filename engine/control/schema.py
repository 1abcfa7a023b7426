"""The wire contract, written once: event kinds and their fields, limits, reply shapes.

Everything that crosses the control socket is declared here and derived from here:
``EventKind`` constants, ``EVENT_FIELDS`` (the field names ``hello`` advertises), the
event decoders (by name, never by position), the docs/protocol.md events table (a unit
test compares it), the operator limits that both the engine's params validation and the
panel's input validation import, and TypedDicts for the maps the methods return.

This module is a leaf: it imports nothing from the engine, so the event bus, the
primitives (through ``telemetry.events``) and the panel can all depend on it.

Long on purpose: the whole contract in one file is the point (one place to read and change).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Literal, NamedTuple, TypedDict

# ---- limits (one definition for both halves) ---------------------------------------------
MIN_TTL = 0.001
"""Smallest TTL (seconds) an operator may set: below it a cache is disabled in effect."""
MAX_TTL = 10**9
"""Largest TTL (seconds, about 31 years)."""
MAX_SIZE = 10**9
"""Largest ``max_size`` of a cache."""
MAX_NAME = 256
"""Longest name (cache, router, memory, provider, route, client) in a request."""
MAX_KEYWORDS = 64
"""Most keywords in one ``memory.search``."""
MAX_KEYWORD_LEN = 256
"""Longest keyword (and longest string of keywords is MAX_KEYWORDS x this)."""
SEARCH_LIMIT_MAX = 1000
MAX_WEIGHT = 1_000_000
"""Largest route weight (weights are relative: 90/10 is 9/1)."""
MAX_ROUTES = 256
"""Most routes in one ``router.set_weights``."""
MAX_COOLDOWN = 7 * 86400
"""Longest cooldown (seconds) an operator may start on a provider."""
PROVIDER_STATES = ("ok", "failing", "retrying", "over budget", "cooling down")
"""A provider's ``state`` in its health map, from fine to worst."""
SEARCH_LIMIT_DEFAULT = 10


# ---- event kinds -------------------------------------------------------------------------
class EventSpec(NamedTuple):
    """One event kind: its wire name and its fields (with a short note for the docs)."""

    kind: str
    fields: tuple[str, ...]
    notes: tuple[str, ...]


EVENT_SPECS: dict[str, EventSpec] = {}
"""Every event kind, in declaration order."""


def _kind(kind: str, *fields: str) -> str:
    """Declare an event kind. A field is ``name`` or ``name (note for the docs)``."""
    names = tuple(f.split(" (", 1)[0] for f in fields)
    notes = tuple(f[len(n) + 2 : -1] if f != n else "" for f, n in zip(fields, names, strict=True))
    EVENT_SPECS[kind] = EventSpec(kind, names, notes)
    return kind


class EventKind:
    """Event kind names; each is declared once here with its fields (after seq, ts, kind)."""

    CACHE_HIT = _kind("cache.hit", "name", 'layer (`"l1"` / `"l2"`)', "key (short hex)")
    CACHE_MISS = _kind("cache.miss", "name", "key", "coalesced (bool: waited on an in-flight call)")
    CACHE_SET = _kind("cache.set", "name", "key", 'layers (`"l1"` / `"l1+l2"`)')
    CACHE_EVICT = _kind("cache.evict", "name", 'reason (`"lru"` / `"ttl"` / `"resize"`)', "count")
    CACHE_FLUSH = _kind("cache.flush", "name", "l1_count", "l2_count")
    CACHE_CONFIG = _kind("cache.config", "name", "ttl", "max_size")
    CACHE_L2_ERROR = _kind("cache.l2_error", "name", "error")
    ROUTE = _kind(
        "route",
        "name",
        "route",
        'reason (`"select"` / `"pin"` / `"unknown"` / `"weight"` / `"fallback"`)',
        "latency_s",
    )
    ROUTE_ERROR = _kind("route.error", "name", "route", "error")
    ROUTER_CONFIG = _kind("router.config", "name", "pin", "route", "providers (list)")
    ROUTER_WEIGHTS = _kind(
        "router.weights", "name", "weights (map route -> weight; None: back to the selector)"
    )
    ROUTER_FALLBACK = _kind(
        "router.fallback",
        "name",
        "from_route",
        "to_route (None: every route is out, the chosen one is the last resort)",
        'reason (`"cooldown"` / `"budget"`)',
    )
    PARALLEL_RUN = _kind("parallel.run", "name", "run_id", "wall_s", "status", "branch_count")
    PARALLEL_BRANCH = _kind(
        "parallel.branch", "name", "run_id", "branch", "start_s", "end_s", "status"
    )
    PROVIDER_CALL = _kind(
        "provider.call", "provider", "model", "latency_s", "tokens_in", "tokens_out", "cost"
    )
    PROVIDER_RETRY = _kind("provider.retry", "provider", "attempt", "reason", "delay_s")
    PROVIDER_ERROR = _kind("provider.error", "provider", "error")
    PROVIDER_FALLBACK = _kind("provider.fallback", "tier", "from_provider", "to_provider", "reason")
    PROVIDER_COOLDOWN = _kind(
        "provider.cooldown", "provider", "seconds", 'reason (`"failures"` / `"operator"`)'
    )
    PROVIDER_RESUME = _kind(
        "provider.resume",
        "provider",
        "seconds_left (of the cooldown that ended)",
        'reason (`"operator"`)',
    )
    BUDGET = _kind(
        "budget",
        "name (provider or tier)",
        'state (`"exhausted"`)',
        "spent (USD this period)",
        "usd (the budget)",
    )
    MEMORY_ADD = _kind("memory.add", "name", "key")
    MEMORY_SEARCH = _kind("memory.search", "name", "keyword_count", "result_count", "latency_s")
    MEMORY_CLEAR = _kind("memory.clear", "name", "count")
    REDIS = _kind("redis", 'state (`"up"` / `"down"`)', "error")
    STREAM_FIRST = _kind(
        "stream.first",
        'source (`"provider"` / `"l1"` / `"l2"` / `"coalesced"`)',
        "ttft_s (seconds from `eng.stream` to the first delta)",
    )
    STREAM_END = _kind(
        "stream.end",
        "source",
        "provider",
        "deltas",
        "tokens_out",
        'status (`"ok"` / `"error"` / `"closed"`: left early)',
        "ttft_s (None before a first delta)",
        "total_s",
    )
    RUN_ERROR = _kind(
        "run.error",
        "flow (its name, or its type)",
        "error (the exception type; with the message of Flowdeck's own errors)",
    )
    AUDIT = _kind(
        "audit",
        "method",
        'scope (`"socket"` / `"fleet"`)',
        'result (`"applied"` / `"unchanged"` / `"not_found"` / `"read_only"` / `"error"`)',
    )

    ALL: tuple[str, ...] = tuple(EVENT_SPECS)


EVENT_FIELDS: dict[str, tuple[str, ...]] = {k: s.fields for k, s in EVENT_SPECS.items()}
"""Field names of each kind, after ``(seq, ts, kind)`` (what ``hello`` advertises)."""

HEAD = ("seq", "ts", "kind")
"""The first three elements of every wire event."""


def _record_type(kind: str, fields: tuple[str, ...]) -> type[tuple[Any, ...]]:
    ident = "Ev_" + kind.replace(".", "_")
    return namedtuple(ident, HEAD + fields)


EVENT_TYPES: dict[str, type[tuple[Any, ...]]] = {
    k: _record_type(k, f) for k, f in EVENT_FIELDS.items()
}
"""A named tuple per kind: ``decode(ev).run_id`` instead of ``ev[4]``."""


def field_index(kind: str, name: str) -> int:
    """Position of field ``name`` in a wire event of ``kind`` (for hot decoders)."""
    return len(HEAD) + EVENT_FIELDS[kind].index(name)


def decode(event: list[Any] | tuple[Any, ...]) -> Any:
    """A wire event as its kind's named tuple; None for an unknown kind or a wrong arity.

    (Typed ``Any``: the attribute names come from the table above.)
    """
    try:
        return EVENT_TYPES[event[2]]._make(event)  # type: ignore[attr-defined]  # the table holds NamedTuple classes
    except (KeyError, TypeError, IndexError):
        return None


def event_dict(event: list[Any] | tuple[Any, ...]) -> dict[str, Any]:
    """A wire event ``[seq, ts, kind, *fields]`` as a dict (unknown fields as ``f0``...)."""
    seq, ts, kind, *fields = event
    names = EVENT_FIELDS.get(kind, ())
    out: dict[str, Any] = {"seq": seq, "ts": ts, "kind": kind}
    for i, value in enumerate(fields):
        out[names[i] if i < len(names) else f"f{i}"] = value
    return out


def events_table_md() -> str:
    """The docs/protocol.md "Event kinds" table (checked against the file by a test)."""
    rows = ["| kind | fields after `[seq, ts, kind]` |", "|---|---|"]
    for spec in EVENT_SPECS.values():
        cells = [
            n if not note else f"{n} ({note})"
            for n, note in zip(spec.fields, spec.notes, strict=True)
        ]
        rows.append(f"| `{spec.kind}` | {', '.join(cells)} |")
    return "\n".join(rows)


# ---- reply shapes ----------------------------------------------------------------------------
# Config values (ttl, max_size, l2, namespace, pin, ...) live in describe() only; stats()
# carries counters and live state. A write reply is the primitive's describe() after the
# change, so a client can update its view at once.


class RedisState(TypedDict):
    url: str
    up: bool
    errors: int
    reconnects: int


class Identity(TypedDict, total=False):
    """``Engine.identity()``; fleet adds ``id``, ``host``, ``started_at`` (shared contract)."""

    id: str
    name: str
    host: str
    pid: int
    version: str
    protocol: int
    started: float
    started_at: float
    uptime: float
    socket: str | None
    redis: RedisState | None
    read_only: bool
    fleet: str  # the fleet name (engine.fleet.scope)


class Limits(TypedDict):
    max_frame: int
    max_items: int
    max_pending: int
    frame_events: int
    event_interval: float
    stats_interval: float
    event_ring: int


class Hello(Identity, total=False):
    methods: list[str]
    write_methods: list[str]
    notifications: list[str]
    event_fields: dict[str, list[str]]
    error_codes: list[str]
    limits: Limits
    clients: int


class CacheStats(TypedDict):
    hits: int
    hits_l1: int
    hits_l2: int
    misses: int
    coalesced: int
    sets: int
    evictions: dict[str, int]
    size: int
    hit_rate: float
    l2_up: bool
    l2_errors: int
    l2_too_large: int  # records over l2_max_bytes, kept in L1 only
    time_saved: float
    cost_saved: float
    ttft: dict[str, dict[str, float | None]]  # streamed: source -> {"p50", "p95"} seconds


class CacheDescribe(TypedDict):
    name: str
    kind: Literal["cache"]
    ttl: float
    max_size: int
    l2: bool
    l2_max_bytes: int
    sources: dict[str, str]  # setting -> "config" | "runtime" | "fleet"
    stats: CacheStats


class RouteStats(TypedDict):
    count: int
    share: float
    errors: int
    cost: float
    p50: float | None
    p95: float | None
    p99: float | None
    ttft_p50: float | None  # streamed requests: seconds to the first delta
    ttft_p95: float | None


class RouterStats(TypedDict):
    total: int
    unknown: int
    fallbacks: dict[str, int]  # reason ("cooldown" / "budget") -> requests sent elsewhere
    last_resort: int  # requests sent to the chosen route although every route was out
    pinned: str | None  # the route every request goes to (None: the selector decides)
    routes: dict[str, RouteStats]


class RouterDescribe(TypedDict):
    name: str
    kind: Literal["router"]
    routes: list[str]
    default: str | None
    pin: str | None
    providers: dict[str, list[str] | None]
    configured: dict[str, list[str] | None]  # the provider order each route started with
    tiers: dict[str, str | None]  # route -> tier or provider name (budgets are by this name)
    weights: dict[str, float] | None  # route -> weight now (None: the selector decides)
    configured_weights: dict[str, float] | None
    targets: dict[str, float] | None  # the weights as shares (0..1): the split's target
    sticky: bool  # weighted picks follow the request key (a key function was given)
    selector: bool  # the router has a select function (weights None returns to it)
    sources: dict[str, str]  # setting -> "config" | "runtime" | "fleet"
    stats: RouterStats


class Branch(TypedDict):
    name: str
    start: float
    end: float
    status: str


class Timeline(TypedDict):
    run_id: int
    started: float
    wall: float
    status: str
    speedup: float | None
    branches: list[Branch]


class ParallelStats(TypedDict):
    runs: int
    errors: int
    cancelled: int  # runs their caller cancelled
    branches_cancelled: int  # branches the timelines mark cancelled (what the gantt shows)
    wall: dict[str, Any]
    speedup: float | None  # over runs whose branches all finished


class ParallelDescribe(TypedDict):
    name: str
    kind: Literal["parallel"]
    branches: list[str]
    limit: int | None
    fail: str
    stats: ParallelStats
    timelines: list[Timeline]


class MemoryStats(TypedDict):
    size: int
    adds: int
    searches: int
    search_p50: float | None
    pending_l2: int
    l2_errors: int
    remote_puts: int  # entries taken from other engines (announcements)
    reconciles: int  # full HSCAN reads of the namespace (start, after an outage)
    scan_retries: int
    scan_failures: int


class MemoryDescribe(TypedDict):
    name: str
    kind: Literal["memory"]
    namespace: str
    max_size: int
    l2: bool
    stats: MemoryStats


class Workload(TypedDict):
    runs: int
    errors: int
    in_flight: int
    p50: float | None
    p95: float | None
    p99: float | None


class BudgetState(TypedDict):
    """One USD budget (``engine.providers.budget.Budget.describe()``)."""

    name: str
    scope: str
    usd: float
    period: str
    spent: float
    remaining: float
    burn_per_hour: float
    resets_in: float
    exhausted: bool
    skipped: int
    exhausted_count: int
    total: float


class ProviderHealth(TypedDict):
    """One provider client (``ProviderClient.health()``); ``state`` is ``ok`` /
    ``failing`` / ``retrying`` / ``cooling down`` / ``over budget``."""

    name: str
    kind: str
    model: str
    calls: int
    errors: int
    retries: int
    p50: float | None
    p95: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    cost: float
    tokens_in: int
    tokens_out: int
    consecutive_failures: int
    cooldown_remaining: float  # seconds (the engine's monotonic clock stays its own)
    cooldown_reason: str | None
    cooldowns: int
    last_error: str | None
    state: str
    in_flight: int
    skipped: int
    budget: BudgetState | None


class Snapshot(TypedDict):
    seq: int
    time: float
    engine: Identity
    workload: Workload
    caches: dict[str, CacheDescribe]
    routers: dict[str, RouterDescribe]
    parallels: dict[str, ParallelDescribe]
    memories: dict[str, MemoryDescribe]
    providers: dict[str, ProviderHealth]
    budgets: dict[str, BudgetState]
    tiers: dict[str, list[str]]
    fleet: dict[str, Any]  # FleetAgent.describe(): heartbeat, commands, overrides, audit
    audit: list[dict[str, Any]]  # the newest audit records (engine.fleet.audit)


class Stats(TypedDict):
    """The periodic ``stats`` notification: counters only, no config, no timelines."""

    seq: int
    time: float
    uptime: float
    redis: RedisState | None
    workload: Workload
    caches: dict[str, CacheStats]
    routers: dict[str, RouterStats]
    parallels: dict[str, ParallelStats]
    memories: dict[str, MemoryStats]
    providers: dict[str, ProviderHealth]
    budgets: dict[str, BudgetState]


class CacheWriteReply(CacheDescribe, total=False):
    """Reply of ``cache.set_ttl`` / ``cache.set_max_size``: describe() + what the call did."""

    result: dict[str, Any]


class RouterWriteReply(RouterDescribe, total=False):
    """Reply of ``router.pin`` / ``router.set_model``."""

    result: Any


class Flushed(TypedDict):
    """What ``cache.flush`` removed from one cache (``l2``: None without Redis or when
    Redis could not be reached)."""

    name: str
    l1: int
    l2: int | None


class FlushReply(TypedDict):
    flushed: dict[str, Flushed]


class ClearReply(TypedDict):
    cleared: dict[str, int]  # memory name -> entries removed here


class SearchResult(TypedDict):
    key: str
    value: Any
    score: int  # how many distinct keywords the entry holds


class SearchReply(TypedDict):
    name: str
    keywords: list[str]
    limit: int
    results: list[SearchResult]


DESCRIBE_TYPES: dict[str, type] = {
    "caches": CacheDescribe,
    "routers": RouterDescribe,
    "parallels": ParallelDescribe,
    "memories": MemoryDescribe,
}
STATS_TYPES: dict[str, type] = {
    "caches": CacheStats,
    "routers": RouterStats,
    "parallels": ParallelStats,
    "memories": MemoryStats,
}
