"""The method table: one entry per control method, from which everything else derives.

An entry names the method, its params validator (``params.py``), its handler, whether it
writes (refused on a read-only engine) and a doc line. ``METHODS``, ``WRITE_METHODS``,
:func:`check_method`, :func:`validate`, the dispatch in ``connection.py`` and the
docs/protocol.md methods table (:func:`methods_table_md`, checked by a test) all come
from :data:`TABLE`. Adding a method is one validator, one handler and one entry.

Handlers get the connection (a :class:`Session`) and the validated params. They return
a value, or an awaitable the connection awaits with a timeout. Primitives raise
``NotFound`` / ``BadParams`` (engine/errors.py) for a missing name or a refused value;
anything else is a bug and answers ``internal`` with a logged traceback.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flowdeck.engine.control import params as V
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.protocol import ControlError
from flowdeck.engine.errors import BadParams, NotFound

if TYPE_CHECKING:
    from flowdeck.engine.engine import Engine


class Session(Protocol):
    """What a handler may use of its connection."""

    engine: Engine

    def hello(self, a: dict[str, Any]) -> Any: ...
    def snapshot(self) -> Any: ...
    def subscribe(self, a: dict[str, Any]) -> Any: ...
    def unsubscribe(self) -> Any: ...


Handler = Callable[[Session, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    validate: V.Validator
    handler: Handler
    write: bool
    doc: str


# ---- handlers -------------------------------------------------------------------------------
def _hello(s: Session, a: dict[str, Any]) -> Any:
    return s.hello(a)


def _snapshot(s: Session, a: dict[str, Any]) -> Any:
    return s.snapshot()


def _subscribe(s: Session, a: dict[str, Any]) -> Any:
    return s.subscribe(a)


def _unsubscribe(s: Session, a: dict[str, Any]) -> Any:
    return s.unsubscribe()


def _cache_flush(s: Session, a: dict[str, Any]) -> Any:
    caches = s.engine.caches
    return _for_each(list(caches) if a["name"] == "*" else [a["name"]], caches, "flush", "flushed")


def _memory_clear(s: Session, a: dict[str, Any]) -> Any:
    mems = s.engine.memories
    return _for_each(list(mems) if a["name"] == "*" else [a["name"]], mems, "clear", "cleared")


def _cache_set_ttl(s: Session, a: dict[str, Any]) -> Any:
    cache = s.engine.caches[a["name"]]
    return _then_describe(cache.set_ttl(a["ttl"]), cache)


def _cache_set_max_size(s: Session, a: dict[str, Any]) -> Any:
    cache = s.engine.caches[a["name"]]
    return _then_describe(cache.set_max_size(a["max_size"]), cache)


def _router_pin(s: Session, a: dict[str, Any]) -> Any:
    router = s.engine.routers[a["name"]]
    router.pin(a["route"])
    return _then_describe(None, router)


def _router_set_model(s: Session, a: dict[str, Any]) -> Any:
    router = s.engine.routers[a["name"]]
    router.set_model(a["route"], a["provider"])
    return _then_describe(None, router)


def _router_restore(s: Session, a: dict[str, Any]) -> Any:
    router = s.engine.routers[a["name"]]
    return _then_describe(router.restore(a["route"]), router)


def _router_set_weights(s: Session, a: dict[str, Any]) -> Any:
    router = s.engine.routers[a["name"]]
    router.set_weights(a["weights"])
    return _then_describe(None, router)


def _provider_cooldown(s: Session, a: dict[str, Any]) -> Any:
    client = s.engine.providers[a["name"]]
    client.start_cooldown(a["seconds"], "operator")
    return client.health()


def _provider_resume(s: Session, a: dict[str, Any]) -> Any:
    client = s.engine.providers[a["name"]]
    left = client.end_cooldown("operator")
    return {**client.health(), "result": {"seconds_left": left}}


def _memory_search(s: Session, a: dict[str, Any]) -> Any:
    found = s.engine.memories[a["name"]].search(a["keywords"], a["limit"])
    head = {"name": a["name"], "keywords": a["keywords"], "limit": a["limit"]}
    return _then(found, lambda r: {**head, "results": r})


# ---- the table ------------------------------------------------------------------------------
TABLE: dict[str, Method] = {
    m.name: m
    for m in (
        Method(P.HELLO, V.hello, _hello, False, "engine identity, protocol tables, limits"),
        Method(P.SNAPSHOT, V.empty, _snapshot, False, "full state stamped with `seq`"),
        Method(P.SUBSCRIBE, V.subscribe, _subscribe, False, "start `events` / `stats`"),
        Method(P.UNSUBSCRIBE, V.empty, _unsubscribe, False, "stop notifications"),
        Method(P.CACHE_FLUSH, V.cache_flush, _cache_flush, True, "drop a cache's entries"),
        Method(P.CACHE_SET_TTL, V.cache_ttl, _cache_set_ttl, True, "change a cache's TTL"),
        Method(P.CACHE_SET_MAX_SIZE, V.cache_size, _cache_set_max_size, True, "change L1 capacity"),
        Method(P.ROUTER_PIN, V.router_pin, _router_pin, True, "force a route, or nil for auto"),
        Method(
            P.ROUTER_SET_MODEL, V.router_model, _router_set_model, True, "re-map a tier's provider"
        ),
        Method(
            P.ROUTER_RESTORE,
            V.router_restore,
            _router_restore,
            True,
            "put a route (nil: every route) back to its configured provider order",
        ),
        Method(
            P.ROUTER_SET_WEIGHTS,
            V.router_weights,
            _router_set_weights,
            True,
            "split by route weights (0 = drained, still a fallback); nil: configured",
        ),
        Method(
            P.PROVIDER_COOLDOWN,
            V.provider_cooldown,
            _provider_cooldown,
            True,
            "start a cooldown (drain) of `seconds`",
        ),
        Method(P.PROVIDER_RESUME, V.provider_resume, _provider_resume, True, "end a cooldown now"),
        Method(P.MEMORY_CLEAR, V.memory_clear, _memory_clear, True, "drop a memory's entries"),
        Method(P.MEMORY_SEARCH, V.memory_search, _memory_search, False, "keyword search"),
    )
}

METHODS: tuple[str, ...] = tuple(TABLE)
WRITE_METHODS: frozenset[str] = frozenset(n for n, m in TABLE.items() if m.write)


def check_method(method: Any, params: Any) -> tuple[Method, dict[str, Any]]:
    """The table entry and a params dict, or ControlError(bad_request | unknown_method)."""
    if method is P.MALFORMED or not isinstance(method, str):
        raise ControlError(P.BAD_REQUEST, "a request is [0, msgid, method: str, params: map]")
    entry = TABLE.get(method)
    if entry is None:
        shown = method if len(method) <= 64 else method[:61] + "..."
        raise ControlError(P.UNKNOWN_METHOD, f"unknown method {shown!r}")
    if params is None or params == []:
        return entry, {}
    if not isinstance(params, dict):
        raise ControlError(P.BAD_PARAMS, "params must be a map with string keys")
    return entry, params


def validate(method: str, params: dict[str, Any], exists: V.Exists) -> dict[str, Any]:
    """Check ``params`` of ``method``; return cleaned values or raise ControlError."""
    return TABLE[method].validate(V.Params(method, params), exists)


def methods_table_md() -> str:
    """The docs/protocol.md methods table (a test checks the file contains it)."""
    rows = ["| method | kind | what |", "|---|---|---|"]
    for m in TABLE.values():
        rows.append(f"| `{m.name}` | {'write' if m.write else 'read'} | {m.doc} |")
    return "\n".join(rows)


# ---- errors and results ---------------------------------------------------------------------
def as_control_error(exc: BaseException) -> ControlError | None:
    """The wire error for a refusal a primitive raised on purpose; None for a bug."""
    if isinstance(exc, ControlError):
        return exc
    if isinstance(exc, NotFound):
        return ControlError(P.NOT_FOUND, str(exc))
    if isinstance(exc, BadParams):
        return ControlError(P.BAD_PARAMS, str(exc) or type(exc).__name__)
    return None


def _then(result: Any, then: Callable[[Any], Any]) -> Any:
    """``then(result)``, after awaiting ``result`` if it is awaitable."""
    if inspect.isawaitable(result):
        return _awaited(result, then)
    return then(result)


async def _awaited(aw: Awaitable[Any], then: Callable[[Any], Any]) -> Any:
    return then(await aw)


def _then_describe(result: Any, prim: Any) -> Any:
    """The primitive's ``describe()`` after the change, plus its method's return value."""

    def state(ret: Any) -> dict[str, Any]:
        out = dict(prim.describe())
        if ret is not None:
            out["result"] = ret
        return out

    return _then(result, state)


def _for_each(names: list[str], registry: dict[str, Any], attr: str, key: str) -> Any:
    results: dict[str, Any] = {}
    waits: list[tuple[str, Any]] = []
    for n in names:
        r = getattr(registry[n], attr)()
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
