"""The control wire: msgpack-RPC constants, method names, error codes and params validation.

Shared by the server, the client and the panel (which may import only this module and
``engine.control.client``). Validation turns an untrusted params map into clean Python
values or raises :class:`ControlError` with a stable code; it never touches the engine
except through the ``exists`` callback that answers "is there a <kind> named X?".
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flowdeck.engine.control.schema import (
    EVENT_FIELDS,
    MAX_KEYWORD_LEN,
    MAX_KEYWORDS,
    MAX_NAME,
    MAX_SIZE,
    MAX_TTL,
    MIN_TTL,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    EventKind,
    event_dict,
)
from flowdeck.engine.version import PROTOCOL_VERSION

# ---- framing ---------------------------------------------------------------------------
REQUEST = 0
RESPONSE = 1
NOTIFY = 2

MAX_FRAME = 1 << 20
"""Largest message (bytes) a peer may send; bigger closes the connection."""
MAX_MSGID = (1 << 32) - 1

# ---- methods ---------------------------------------------------------------------------
HELLO = "hello"
SNAPSHOT = "snapshot"
SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
CACHE_FLUSH = "cache.flush"
CACHE_SET_TTL = "cache.set_ttl"
CACHE_SET_MAX_SIZE = "cache.set_max_size"
ROUTER_PIN = "router.pin"
ROUTER_SET_MODEL = "router.set_model"
MEMORY_CLEAR = "memory.clear"
MEMORY_SEARCH = "memory.search"

METHODS: tuple[str, ...] = (
    HELLO,
    SNAPSHOT,
    SUBSCRIBE,
    UNSUBSCRIBE,
    CACHE_FLUSH,
    CACHE_SET_TTL,
    CACHE_SET_MAX_SIZE,
    ROUTER_PIN,
    ROUTER_SET_MODEL,
    MEMORY_CLEAR,
    MEMORY_SEARCH,
)
WRITE_METHODS: frozenset[str] = frozenset(
    {
        CACHE_FLUSH,
        CACHE_SET_TTL,
        CACHE_SET_MAX_SIZE,
        ROUTER_PIN,
        ROUTER_SET_MODEL,
        MEMORY_CLEAR,
    }
)

# ---- notifications (engine -> client) ---------------------------------------------------
EVENTS = "events"
STATS = "stats"
DROPPED = "dropped"
NOTIFICATIONS: tuple[str, ...] = (EVENTS, STATS, DROPPED)

# ---- error codes -------------------------------------------------------------------------
UNKNOWN_METHOD = "unknown_method"
BAD_PARAMS = "bad_params"
NOT_FOUND = "not_found"
READ_ONLY = "read_only"
BAD_REQUEST = "bad_request"
TOO_MANY_REQUESTS = "too_many_requests"
INTERNAL = "internal"
ERROR_CODES: tuple[str, ...] = (
    UNKNOWN_METHOD,
    BAD_PARAMS,
    NOT_FOUND,
    READ_ONLY,
    BAD_REQUEST,
    TOO_MANY_REQUESTS,
    INTERNAL,
)


class ControlError(Exception):
    """An error response from the engine (or a params check): a stable code and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_wire(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def default_socket_path() -> Path:
    """``$FLOWDECK_SOCKET``, else ``$XDG_RUNTIME_DIR/flowdeck/engine.sock``, else /tmp."""
    env = os.environ.get("FLOWDECK_SOCKET")
    if env:
        return Path(env)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "flowdeck" / "engine.sock"
    return Path(f"/tmp/flowdeck-{os.getuid()}") / "engine.sock"


# ---- outgoing values -----------------------------------------------------------------------
def to_wire(obj: Any) -> Any:
    """msgpack ``default`` hook: a packable stand-in for a value msgpack cannot pack."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, datetime.datetime | datetime.date):
        return obj.isoformat()
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    return repr(obj)


def sanitize(obj: Any, depth: int = 0) -> Any:
    """Deep copy of ``obj`` using only msgpack-safe types (slow path after a pack error)."""
    if depth > 32:
        return repr(obj)
    if obj is None or isinstance(obj, bool | float | str | bytes):
        return obj
    if isinstance(obj, int):
        return obj if -(1 << 63) <= obj < (1 << 64) else str(obj)
    if isinstance(obj, Mapping):
        return {
            (k if isinstance(k, str) else str(k)): sanitize(v, depth + 1) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [sanitize(v, depth + 1) for v in obj]
    converted = to_wire(obj)
    if isinstance(converted, str):
        return converted
    return sanitize(converted, depth + 1)


# ---- incoming requests ---------------------------------------------------------------------
Exists = Callable[[str, str], bool]
"""``exists(kind, name)`` with kind in "caches", "routers", "memories", "providers"."""


MALFORMED = object()
"""Stands for the method of a request that does not have exactly 4 elements."""


def parse_request(msg: Any) -> tuple[int, Any, Any]:
    """Split a message into ``(msgid, method, params)``.

    Raises ``ValueError`` when the message cannot be answered at all (not a request,
    no usable msgid): the connection is then closed. Method and params are returned
    unchecked; :func:`validate` checks them.
    """
    if not isinstance(msg, list) or not msg or msg[0] != REQUEST or type(msg[0]) is not int:
        raise ValueError("not a msgpack-RPC request")
    if len(msg) < 2:
        raise ValueError("request without msgid")
    msgid = msg[1]
    if type(msgid) is not int or not 0 <= msgid <= MAX_MSGID:
        raise ValueError("msgid must be an unsigned 32-bit integer")
    if len(msg) != 4:
        return msgid, MALFORMED, None
    return msgid, msg[2], msg[3]


def check_method(method: Any, params: Any) -> tuple[str, dict[str, Any]]:
    """The method name and a params dict, or ControlError(bad_request | unknown_method)."""
    if method is MALFORMED or not isinstance(method, str):
        raise ControlError(BAD_REQUEST, "a request is [0, msgid, method: str, params: map]")
    if method not in _VALIDATORS:
        shown = method if len(method) <= 64 else method[:61] + "..."
        raise ControlError(UNKNOWN_METHOD, f"unknown method {shown!r}")
    if params is None or params == []:
        return method, {}
    if not isinstance(params, dict):
        raise ControlError(BAD_PARAMS, "params must be a map with string keys")
    return method, params


def validate(method: str, params: dict[str, Any], exists: Exists) -> dict[str, Any]:
    """Check ``params`` of ``method``; return cleaned values or raise ControlError."""
    return _VALIDATORS[method](_Params(method, params), exists)


class _Params:
    """Typed access to one request's params; every key must be read once or is unknown."""

    __slots__ = ("method", "raw", "used")

    def __init__(self, method: str, raw: dict[str, Any]) -> None:
        self.method = method
        self.raw = raw
        self.used: set[str] = set()

    def _get(self, key: str, required: bool) -> tuple[bool, Any]:
        self.used.add(key)
        if key not in self.raw:
            if required:
                raise ControlError(BAD_PARAMS, f"{self.method}: missing param {key!r}")
            return False, None
        return True, self.raw[key]

    def bad(self, key: str, want: str, value: Any) -> ControlError:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return ControlError(BAD_PARAMS, f"{self.method}: {key} must be {want}, got {shown}")

    def string(self, key: str, *, required: bool = True, default: str | None = None) -> Any:
        present, v = self._get(key, required)
        if not present:
            return default
        if not isinstance(v, str) or not v or len(v) > MAX_NAME:
            raise self.bad(key, f"a non-empty string of at most {MAX_NAME} characters", v)
        return v

    def optional_string(self, key: str) -> str | None:
        _present, v = self._get(key, True)
        if v is None:
            return None
        return self.string(key)

    def boolean(self, key: str, default: bool) -> bool:
        present, v = self._get(key, False)
        if not present:
            return default
        if not isinstance(v, bool):
            raise self.bad(key, "true or false", v)
        return v

    def integer(
        self, key: str, lo: int, hi: int, *, required: bool = True, default: int = 0
    ) -> int:
        present, v = self._get(key, required)
        if not present:
            return default
        if type(v) is not int or not lo <= v <= hi:
            raise self.bad(key, f"an integer from {lo} to {hi}", v)
        return v

    def number(self, key: str, lo: float, hi: float) -> float:
        _, v = self._get(key, True)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise self.bad(key, f"a number from {lo:g} to {hi:g}", v)
        return v

    def done(self) -> None:
        extra = [k for k in self.raw if k not in self.used]
        if extra:
            shown = ", ".join(repr(k)[:40] for k in extra[:5])
            raise ControlError(BAD_PARAMS, f"{self.method}: unknown param(s) {shown}")


def _named(p: _Params, exists: Exists, kind: str, label: str, *, star: bool = False) -> str:
    name = p.string("name")
    if star and name == "*":
        return name
    if not exists(kind, name):
        raise ControlError(NOT_FOUND, f"no {label} named {name!r}")
    return name


def _v_hello(p: _Params, exists: Exists) -> dict[str, Any]:
    out = {"client": p.string("client", required=False)}
    p.integer("protocol", 0, 1 << 31, required=False)
    p.done()
    return out


def _v_empty(p: _Params, exists: Exists) -> dict[str, Any]:
    p.done()
    return {}


def _v_subscribe(p: _Params, exists: Exists) -> dict[str, Any]:
    out: dict[str, Any] = {"events": p.boolean("events", True), "stats": p.boolean("stats", True)}
    _present, kinds = p._get("kinds", False)
    if kinds is not None:
        if not isinstance(kinds, list) or len(kinds) > len(EventKind.ALL):
            raise p.bad("kinds", "a list of event kinds", kinds)
        for k in kinds:
            if not isinstance(k, str) or k not in EVENT_FIELDS:
                raise p.bad("kinds", f"a list of event kinds (one of {list(EventKind.ALL)})", k)
        kinds = frozenset(kinds)
    out["kinds"] = kinds
    _present, since = p._get("since", False)
    if since is not None:
        since = p.integer("since", 0, 1 << 62)
    out["since"] = since
    p.done()
    return out


def _v_cache_flush(p: _Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "caches", "cache", star=True)}
    p.done()
    return out


def _v_cache_ttl(p: _Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "caches", "cache"), "ttl": p.number("ttl", MIN_TTL, MAX_TTL)}
    p.done()
    return out


def _v_cache_size(p: _Params, exists: Exists) -> dict[str, Any]:
    name = _named(p, exists, "caches", "cache")
    out = {"name": name, "max_size": p.integer("max_size", 1, MAX_SIZE)}
    p.done()
    return out


def _v_router_pin(p: _Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "routers", "router"), "route": p.optional_string("route")}
    p.done()
    return out


def _v_router_model(p: _Params, exists: Exists) -> dict[str, Any]:
    name = _named(p, exists, "routers", "router")
    route = p.string("route")
    provider = p.string("provider")
    p.done()
    if not exists("providers", provider):
        raise ControlError(NOT_FOUND, f"no provider named {provider!r}")
    return {"name": name, "route": route, "provider": provider}


def _v_memory_clear(p: _Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "memories", "memory", star=True)}
    p.done()
    return out


def _v_memory_search(p: _Params, exists: Exists) -> dict[str, Any]:
    name = _named(p, exists, "memories", "memory")
    _, kw = p._get("keywords", True)
    if isinstance(kw, str):
        if len(kw) > MAX_KEYWORDS * MAX_KEYWORD_LEN:
            raise p.bad("keywords", "a short string", kw)
        words = kw.split()
        for w in words:
            if len(w) > MAX_KEYWORD_LEN:
                raise p.bad("keywords", f"words of at most {MAX_KEYWORD_LEN} characters", w)
    elif isinstance(kw, list) and len(kw) <= MAX_KEYWORDS:
        for w in kw:
            if not isinstance(w, str) or len(w) > MAX_KEYWORD_LEN:
                raise p.bad("keywords", f"strings of at most {MAX_KEYWORD_LEN} characters", w)
        words = list(kw)
    else:
        raise p.bad("keywords", f"a string or a list of at most {MAX_KEYWORDS} strings", kw)
    if not any(w.strip() for w in words) or len(words) > MAX_KEYWORDS:
        raise p.bad("keywords", f"1 to {MAX_KEYWORDS} non-empty keywords", kw)
    limit = p.integer("limit", 1, SEARCH_LIMIT_MAX, required=False, default=SEARCH_LIMIT_DEFAULT)
    p.done()
    return {"name": name, "keywords": words, "limit": limit}


_VALIDATORS: dict[str, Callable[[_Params, Exists], dict[str, Any]]] = {
    HELLO: _v_hello,
    SNAPSHOT: _v_empty,
    SUBSCRIBE: _v_subscribe,
    UNSUBSCRIBE: _v_empty,
    CACHE_FLUSH: _v_cache_flush,
    CACHE_SET_TTL: _v_cache_ttl,
    CACHE_SET_MAX_SIZE: _v_cache_size,
    ROUTER_PIN: _v_router_pin,
    ROUTER_SET_MODEL: _v_router_model,
    MEMORY_CLEAR: _v_memory_clear,
    MEMORY_SEARCH: _v_memory_search,
}

__all__ = [
    "BAD_PARAMS",
    "BAD_REQUEST",
    "DROPPED",
    "ERROR_CODES",
    "EVENTS",
    "EVENT_FIELDS",
    "INTERNAL",
    "MAX_FRAME",
    "METHODS",
    "NOTIFICATIONS",
    "NOTIFY",
    "NOT_FOUND",
    "PROTOCOL_VERSION",
    "READ_ONLY",
    "REQUEST",
    "RESPONSE",
    "STATS",
    "TOO_MANY_REQUESTS",
    "UNKNOWN_METHOD",
    "WRITE_METHODS",
    "ControlError",
    "default_socket_path",
    "event_dict",
    "parse_request",
    "validate",
]
