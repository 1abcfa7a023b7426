"""Overrides that stick, and where every runtime setting's value came from.

A fleet-wide write of a setting (TTL, max size, pin, a route's model) is kept in the
hash ``<fleet>:overrides``: field = the setting (``cache:llm:ttl``), value = msgpack
``{method, params, version, author, time}``. An engine loads the hash when it starts
and whenever Redis comes back, and applies each record to the primitive it names, after
the primitive's config and before the primitive serves its first request (records are
applied when a primitive is registered, and again for records newer than those applied).

:class:`SettingBook` remembers each setting's config value (at registration) and its
source now: ``config``, ``runtime`` (a socket write on this engine) or ``fleet`` (an
override). Dropping an override returns the setting to its config value.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from flowdeck.engine.control import methods as M
from flowdeck.engine.control import protocol as P
from flowdeck.engine.fleet.packing import unpack_map
from flowdeck.engine.fleet.writes import STICKY, apply_setting, exists_in, setting_key

MAX_OVERRIDES = 10_000  # fields read from the hash (it holds one per setting, not per write)


def pack_override(
    method: str, params: dict[str, Any], version: int, author: dict[str, Any]
) -> bytes:
    record = {
        "method": method,
        "params": params,
        "version": version,
        "author": author,
        "time": time.time(),
    }
    packed: bytes = msgpack.packb(record, use_bin_type=True)
    return packed


def unpack_override(blob: Any) -> dict[str, Any] | None:
    """A stored override, or None if the value is not a well-formed one."""
    rec = unpack_map(blob)
    if rec is None or rec.get("method") not in STICKY:
        return None
    if not isinstance(rec.get("params"), dict) or not isinstance(rec.get("version"), int):
        return None
    return rec


class SettingBook:
    """Config values, sources and fleet overrides of one engine's runtime settings."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.config: dict[str, Any] = {}  # setting -> value at registration
        self.source: dict[str, str] = {}  # setting -> "runtime" | "fleet" (absent: config)
        self.overrides: dict[str, dict[str, Any]] = {}  # setting -> record from Redis
        self.versions: dict[str, int] = {}  # setting -> version applied here
        self.applied = 0
        self.rejected = 0  # records that did not validate on this engine

    # ---- registration ----------------------------------------------------------------
    def registered(self, prim: Any) -> None:
        """Remember a new primitive's config values, then apply the fleet's overrides."""
        kind, name = prim.kind, prim.name
        if kind == "cache":
            self.config.setdefault(f"cache:{name}:ttl", prim.ttl)
            self.config.setdefault(f"cache:{name}:max_size", prim.max_size)
        elif kind == "router":
            self.config.setdefault(f"router:{name}:pin", prim.pinned)
            self.config.setdefault(f"router:{name}:weights", prim.configured_weights)
            for route in prim.routes:
                self.config.setdefault(f"router:{name}:model:{route}", prim.providers_of(route))
        else:
            return
        prefix = f"{kind}:{name}:"
        for key, rec in list(self.overrides.items()):
            if key.startswith(prefix):
                self.apply(key, rec)

    def sources_of(self, kind: str, name: str) -> dict[str, str]:
        """``{setting: "config" | "runtime" | "fleet"}`` for one primitive."""
        prefix = f"{kind}:{name}:"
        out = {}
        for key in self.config:
            if key.startswith(prefix):
                out[key[len(prefix) :]] = self.source.get(key, "config")
        return out

    def mark(self, method: str, params: dict[str, Any], source: str) -> None:
        if method == P.ROUTER_RESTORE:  # back to config: the re-maps' sources go
            prefix = f"router:{params['name']}:model:"
            route = params.get("route")
            for key in [k for k in self.source if k.startswith(prefix)]:
                if route is None or key == prefix + route:
                    del self.source[key]
            return
        if method in STICKY:
            self.source[setting_key(method, params)] = source

    # ---- overrides -------------------------------------------------------------------
    def load(self, records: dict[str, dict[str, Any]]) -> int:
        """Take the hash as read from Redis; apply what is new. Returns how many applied.
        A setting whose override was dropped while we were away returns to config."""
        applied = 0
        for key in [k for k in self.overrides if k not in records]:
            self.drop(key)
        for key, rec in records.items():
            self.overrides[key] = rec
            if self.versions.get(key) != rec["version"] and self.apply(key, rec):
                applied += 1
        return applied

    def apply(self, key: str, rec: dict[str, Any]) -> bool:
        """Apply one override here if this engine has its primitive (and it validates)."""
        if self.engine.read_only:
            return False  # a read-only engine takes no fleet writes, sticky ones included
        method, params = rec["method"], rec["params"]
        try:
            args = M.validate(method, dict(params), exists_in(self.engine))
            if setting_key(method, args) != key:
                raise P.ControlError(P.BAD_PARAMS, f"override {key!r} names another setting")
        except P.ControlError as err:
            if err.code != P.NOT_FOUND:
                self.rejected += 1
            return False
        try:
            apply_setting(self.engine, method, args)
        except (KeyError, ValueError, TypeError):
            self.rejected += 1
            return False
        self.overrides[key] = rec
        self.versions[key] = rec["version"]
        self.source[key] = "fleet"
        self.applied += 1
        return True

    def drop(self, key: str) -> bool:
        """Forget the override of ``key`` and return the setting to its config value.
        False when this engine does not have that setting."""
        self.overrides.pop(key, None)
        self.versions.pop(key, None)
        if key not in self.config:
            return False
        kind, name, setting, *rest = key.split(":")
        value = self.config[key]
        eng = self.engine
        if kind == "cache" and name in eng.caches:
            cache = eng.caches[name]
            if setting == "ttl":
                cache.set_ttl(value, l2=False, announce=False)
            else:
                cache.set_max_size(value)
        elif kind == "router" and name in eng.routers:
            router = eng.routers[name]
            if setting == "pin":
                router.pin(value)
            elif setting == "weights":
                router.set_weights(None)  # the configured weights (or the selector)
            elif rest and rest[0] in router.routes:
                router.restore(rest[0])  # the configured order, not just its first name
        else:
            return False
        self.source.pop(key, None)
        return True
