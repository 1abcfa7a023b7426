"""Params validation: an untrusted params map in, clean Python values out.

One function per method (named after it in the method table, ``methods.py``). Each
raises :class:`ControlError` with a stable code; none touches the engine except through
the ``exists`` callback that answers "is there a <kind> named X?".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowdeck.engine.control.protocol import BAD_PARAMS, NOT_FOUND, ControlError
from flowdeck.engine.control.schema import (
    EVENT_FIELDS,
    MAX_COOLDOWN,
    MAX_KEYWORD_LEN,
    MAX_KEYWORDS,
    MAX_NAME,
    MAX_ROUTES,
    MAX_SIZE,
    MAX_TTL,
    MAX_WEIGHT,
    MIN_TTL,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    EventKind,
)

Exists = Callable[[str, str], bool]
"""``exists(kind, name)`` with kind in "caches", "routers", "memories", "providers"."""

Validator = Callable[["Params", Exists], dict[str, Any]]


class Params:
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


def _named(p: Params, exists: Exists, kind: str, label: str, *, star: bool = False) -> str:
    name = p.string("name")
    if star and name == "*":
        return name
    if not exists(kind, name):
        raise ControlError(NOT_FOUND, f"no {label} named {name!r}")
    return name


def hello(p: Params, exists: Exists) -> dict[str, Any]:
    out = {"client": p.string("client", required=False)}
    p.integer("protocol", 0, 1 << 31, required=False)
    p.done()
    return out


def empty(p: Params, exists: Exists) -> dict[str, Any]:
    p.done()
    return {}


def subscribe(p: Params, exists: Exists) -> dict[str, Any]:
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


def cache_flush(p: Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "caches", "cache", star=True)}
    p.done()
    return out


def cache_ttl(p: Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "caches", "cache"), "ttl": p.number("ttl", MIN_TTL, MAX_TTL)}
    p.done()
    return out


def cache_size(p: Params, exists: Exists) -> dict[str, Any]:
    name = _named(p, exists, "caches", "cache")
    out = {"name": name, "max_size": p.integer("max_size", 1, MAX_SIZE)}
    p.done()
    return out


def router_pin(p: Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "routers", "router"), "route": p.optional_string("route")}
    p.done()
    return out


def router_model(p: Params, exists: Exists) -> dict[str, Any]:
    name = _named(p, exists, "routers", "router")
    route = p.string("route")
    provider = p.string("provider")
    p.done()
    if not exists("providers", provider):
        raise ControlError(NOT_FOUND, f"no provider named {provider!r}")
    return {"name": name, "route": route, "provider": provider}


def router_restore(p: Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "routers", "router"), "route": p.optional_string("route")}
    p.done()
    return out


def router_weights(p: Params, exists: Exists) -> dict[str, Any]:
    name = _named(p, exists, "routers", "router")
    _, raw = p._get("weights", True)
    p.done()
    if raw is None:
        return {"name": name, "weights": None}
    if not isinstance(raw, dict) or not 1 <= len(raw) <= MAX_ROUTES:
        raise p.bad("weights", f"a map of 1 to {MAX_ROUTES} route -> weight, or nil", raw)
    weights: dict[str, float] = {}
    for route, w in raw.items():
        if not isinstance(route, str) or not route or len(route) > MAX_NAME:
            raise p.bad("weights", f"route names of at most {MAX_NAME} characters", route)
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w <= MAX_WEIGHT:
            raise p.bad(f"weights[{route[:40]!r}]", f"a number from 0 to {MAX_WEIGHT}", w)
        weights[route] = float(w)
    if not any(weights.values()):
        raise p.bad("weights", "a map with at least one weight above 0", raw)
    return {"name": name, "weights": weights}


def provider_cooldown(p: Params, exists: Exists) -> dict[str, Any]:
    name = _named(p, exists, "providers", "provider")
    seconds = p.number("seconds", 0, MAX_COOLDOWN)
    p.done()
    if seconds <= 0:
        raise p.bad("seconds", f"more than 0 (at most {MAX_COOLDOWN})", seconds)
    return {"name": name, "seconds": float(seconds)}


def provider_resume(p: Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "providers", "provider")}
    p.done()
    return out


def memory_clear(p: Params, exists: Exists) -> dict[str, Any]:
    out = {"name": _named(p, exists, "memories", "memory", star=True)}
    p.done()
    return out


def memory_search(p: Params, exists: Exists) -> dict[str, Any]:
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
