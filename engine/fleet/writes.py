"""The operator writes an engine takes from the fleet, and the values they change.

One table for the fleet methods: how to read the value a write changes (for the
audit's before -> after and for overrides) and how to apply it on this engine alone.
A fleet command reaches every engine itself, so nothing here announces on pub/sub; the
shared L2 part of a flush or TTL change is done by one engine (``lead``), not by all.
"""

from __future__ import annotations

from typing import Any

from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.params import Exists

FLEET_METHODS: tuple[str, ...] = (
    P.CACHE_FLUSH,
    P.CACHE_SET_TTL,
    P.CACHE_SET_MAX_SIZE,
    P.ROUTER_PIN,
    P.ROUTER_SET_MODEL,
    P.ROUTER_SET_WEIGHTS,
    P.ROUTER_RESTORE,
    P.PROVIDER_COOLDOWN,
    P.PROVIDER_RESUME,
    P.MEMORY_CLEAR,
)
# Settings, as opposed to actions: their latest fleet-wide value sticks (overrides).
STICKY: frozenset[str] = frozenset(
    {P.CACHE_SET_TTL, P.CACHE_SET_MAX_SIZE, P.ROUTER_PIN, P.ROUTER_SET_MODEL, P.ROUTER_SET_WEIGHTS}
)
SETTING_OF = {
    P.CACHE_SET_TTL: "ttl",
    P.CACHE_SET_MAX_SIZE: "max_size",
    P.ROUTER_PIN: "pin",
    P.ROUTER_SET_MODEL: "model",
    P.ROUTER_SET_WEIGHTS: "weights",
}


# Writes whose before / after values say whether they changed anything: one that left
# its value as it was is audited "unchanged", not "applied" (flushes and clears, and a
# cooldown, always act).
CHECKED_FOR_CHANGE: frozenset[str] = STICKY | {P.ROUTER_RESTORE, P.PROVIDER_RESUME}


def outcome(method: str, before: Any, after: Any) -> str:
    """``"unchanged"`` for a write that left its value as it was, else ``"applied"``."""
    if method in CHECKED_FOR_CHANGE and before is not None and before == after:
        return P.UNCHANGED
    return P.APPLIED


def setting_key(method: str, params: dict[str, Any]) -> str:
    """The name of the setting a sticky write changes: ``cache:llm:ttl``,
    ``router:tiers:pin``, ``router:tiers:model:fast`` (one per route)."""
    kind = method.split(".", 1)[0]
    key = f"{kind}:{params['name']}:{SETTING_OF[method]}"
    if method == P.ROUTER_SET_MODEL:
        key += f":{params['route']}"
    return key


def exists_in(engine: Any) -> Exists:
    def exists(kind: str, name: str) -> bool:
        if kind == "providers":
            return name in engine.providers
        return name in getattr(engine, kind)

    return exists


def value_of(engine: Any, method: str, params: dict[str, Any]) -> Any:
    """What ``method`` would change, as it is now (None when there is nothing to read)."""
    name = params.get("name")
    if method == P.CACHE_SET_TTL:
        c = engine.caches.get(name)
        return None if c is None else c.ttl
    if method == P.CACHE_SET_MAX_SIZE:
        c = engine.caches.get(name)
        return None if c is None else c.max_size
    if method == P.ROUTER_PIN:
        r = engine.routers.get(name)
        return None if r is None else r.pinned
    if method == P.ROUTER_SET_MODEL:
        r = engine.routers.get(name)
        if r is None or params.get("route") not in r.routes:
            return None
        return r.providers_of(params["route"])
    if method == P.ROUTER_SET_WEIGHTS:
        r = engine.routers.get(name)
        return None if r is None else r.weights
    if method == P.ROUTER_RESTORE:
        r = engine.routers.get(name)
        if r is None:
            return None
        return {k: r.providers_of(k) for k in r.routes if params.get("route") in (None, k)}
    if method in (P.PROVIDER_COOLDOWN, P.PROVIDER_RESUME):
        c = engine.providers.get(name)
        return None if c is None else {"state": c.state(), "cooldown": c.cooldown_remaining()}
    if method == P.CACHE_FLUSH:
        names = list(engine.caches) if name == "*" else [name]
        return {n: engine.caches[n].stats()["size"] for n in names if n in engine.caches}
    if method == P.MEMORY_CLEAR:
        names = list(engine.memories) if name == "*" else [name]
        return {n: len(engine.memories[n]) for n in names if n in engine.memories}
    return None


async def apply_local(engine: Any, method: str, args: dict[str, Any], *, lead: bool) -> Any:
    """Apply a validated fleet write on this engine only; returns the method's result.

    ``lead``: this engine also does the shared Redis part (L2 flush / re-time).
    """
    name = args.get("name")
    if method == P.CACHE_FLUSH:
        names = list(engine.caches) if name == "*" else [name]
        return {n: await engine.caches[n].flush(l2=lead, announce=False) for n in names}
    if method == P.MEMORY_CLEAR:
        names = list(engine.memories) if name == "*" else [name]
        return {n: await engine.memories[n].clear(announce=False) for n in names}
    if method == P.ROUTER_RESTORE:
        return engine.routers[name].restore(args["route"])
    if method == P.PROVIDER_COOLDOWN:
        engine.providers[name].start_cooldown(args["seconds"], "operator")
        return value_of(engine, method, args)
    if method == P.PROVIDER_RESUME:
        engine.providers[name].end_cooldown("operator")
        return value_of(engine, method, args)
    apply_setting(engine, method, args, lead=lead)
    return value_of(engine, method, args)


def apply_setting(engine: Any, method: str, args: dict[str, Any], *, lead: bool = False) -> None:
    """Set one validated sticky setting on this engine (nothing announced; ``lead``
    also re-times the shared L2 keys after a TTL change)."""
    name = args["name"]
    if method == P.CACHE_SET_TTL:
        engine.caches[name].set_ttl(args["ttl"], l2=lead, announce=False)
    elif method == P.CACHE_SET_MAX_SIZE:
        engine.caches[name].set_max_size(args["max_size"])
    elif method == P.ROUTER_PIN:
        engine.routers[name].pin(args["route"])
    elif method == P.ROUTER_SET_MODEL:
        engine.routers[name].set_model(args["route"], args["provider"])
    elif method == P.ROUTER_SET_WEIGHTS:
        engine.routers[name].set_weights(args["weights"])
    else:
        raise ValueError(f"not a fleet method: {method!r} (fleet methods: {FLEET_METHODS})")
