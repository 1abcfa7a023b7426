"""Router: pick one route per request with a selector or weights; pin, re-map, restore,
re-weight at runtime; skip a route that is out (cooling down, over budget)."""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable
from typing import Any

from flowdeck.engine.completion import Completion, cost_of
from flowdeck.engine.context import Context
from flowdeck.engine.errors import BadParams, FlowdeckError, NotFound
from flowdeck.engine.primitives.base import Primitive, _positional_arity, as_primitive
from flowdeck.engine.primitives.host import Blockable, Remappable
from flowdeck.engine.primitives.weights import (
    BUCKETS,
    bucket_of,
    bucket_table,
    check_weights,
    shares,
)
from flowdeck.engine.telemetry.events import EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

_perf = time.perf_counter
_random = random.random

Entry = tuple[Primitive, "RouteStats", Any]  # primitive, stats, its blocked() or None


class UnknownRoute(FlowdeckError, LookupError):
    """A Router without a default got a selection that is not one of its routes."""


class RouteStats:
    """Counters for one route; plain attributes so recording costs almost nothing."""

    __slots__ = ("cost", "count", "errors", "latency", "ttft")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.cost = 0.0
        self.latency = LatencyWindow(512)
        self.ttft = LatencyWindow(512)  # streamed requests: seconds to the first delta


class Router(Primitive):
    """Send each request to one of ``routes``.

    ``select(data)`` or ``select(data, ctx)`` (sync or async) names the route; a name
    that is not a route is counted as ``unknown`` and goes to ``default`` or, without
    one, raises :class:`UnknownRoute` naming the choice and the routes (never a silent
    pick of the first route). ``weights`` (``{"stable": 90, "canary": 10}``) split the
    traffic instead of ``select``; with ``key(data)`` the pick is sticky per key (a
    stable hash), without it random. A weight of 0 drains a route: it gets no weighted
    traffic but is still a fallback. ``set_weights`` changes them live (None: back to
    the configured weights, or to the selector).
    ``pin(route)`` forces every request to one route; ``pin(None)`` returns to auto.
    Routes built from ``engine.provider(...)`` can be re-mapped to another provider
    with ``set_model`` and put back to their configured order with ``restore``.
    A chosen route that is out (every provider cooling down or over budget, or the
    tier's budget spent) sends the request to the next route in order that is not,
    counted in ``fallbacks`` by reason; when every route is out the chosen one is the
    last resort (``last_resort``).
    """

    kind = "router"

    def __init__(
        self,
        routes: dict[str, Any],
        *,
        name: str | None = None,
        select: Callable[..., Any] | None = None,
        default: str | None = None,
        weights: dict[str, float] | None = None,
        key: Callable[..., Any] | None = None,
    ) -> None:
        if not routes:
            raise ValueError("Router needs at least one route")
        if select is None and weights is None:
            raise TypeError("Router needs select or weights")
        if select is not None and not callable(select):
            raise TypeError("Router select must be callable")
        if key is not None and (not callable(key) or inspect.iscoroutinefunction(key)):
            raise TypeError("Router key must be a plain (not async) callable")
        self.name = name
        self.routes: dict[str, Primitive] = {str(k): as_primitive(v) for k, v in routes.items()}
        if default is not None and default not in self.routes:
            raise ValueError(f"Router default {default!r} is not one of {list(self.routes)}")
        self.default: str | None = default
        self._select = select
        self._select_takes_ctx = select is not None and _positional_arity(select) >= 2
        self._select_async = inspect.iscoroutinefunction(select)
        self._key = key
        self._key_takes_ctx = key is not None and _positional_arity(key) >= 2
        self.pinned: str | None = None
        self.stats_by_route: dict[str, RouteStats] = {r: RouteStats() for r in self.routes}
        self.configured: dict[str, Primitive] = dict(self.routes)  # for restore()
        # route -> (primitive, stats, blocked): one lookup on the hot path instead of three.
        self._table: dict[str, Entry] = {r: self._entry(r) for r in self.routes}
        self.unknown = 0
        self.fallbacks: dict[str, int] = {"cooldown": 0, "budget": 0}
        self.last_resort = 0
        self.configured_weights = (
            None if weights is None else check_weights(name, self.routes, weights)
        )
        self.weights: dict[str, float] | None = None
        self._buckets: list[str] | None = None
        self._set_weights(self.configured_weights)

    def _entry(self, route: str) -> Entry:
        prim = self.routes[route]
        check = prim.blocked if isinstance(prim, Blockable) else None
        return (prim, self.stats_by_route[route], check)

    def _set_weights(self, weights: dict[str, float] | None) -> None:
        self.weights = weights
        self._buckets = None if weights is None else bucket_table(weights)

    def children(self) -> tuple[Primitive, ...]:
        return tuple(self.routes.values())

    async def _choose(self, data: Any, ctx: Context) -> tuple[str, str, Primitive, RouteStats]:
        """Route, reason, primitive and stats for ``data`` (the streaming path's choice;
        ``execute`` keeps the same steps inline, its hot path)."""
        route = self.pinned
        if route is not None:
            reason = "pin"
            entry = self._table[route]
        elif self._buckets is not None:
            route, reason = self._weighted(data, ctx), "weight"
            entry = self._table[route]
        else:
            assert self._select is not None
            choice = self._select(data, ctx) if self._select_takes_ctx else self._select(data)
            if type(choice) is not str and (self._select_async or inspect.isawaitable(choice)):
                choice = await choice
            got = self._table.get(choice)
            if got is not None:
                route, reason, entry = choice, "select", got
            else:
                self.unknown += 1
                if self.default is None:
                    raise self._no_route(choice)
                route, reason = self.default, "unknown"
                entry = self._table[route]
        prim, st, check = entry
        if check is not None:
            why = check()
            if why is not None:
                return self._fallback(route, reason, why)
        return route, reason, prim, st

    def _weighted(self, data: Any, ctx: Context) -> str:
        table = self._buckets
        assert table is not None
        key = self._key
        if key is None:
            return table[int(_random() * BUCKETS)]
        k = key(data, ctx) if self._key_takes_ctx else key(data)
        return table[bucket_of(k)]

    def _fallback(
        self, route: str, reason: str, why: str
    ) -> tuple[str, str, Primitive, RouteStats]:
        """``route`` is out (``why``): the next route in order that is not, else
        ``route`` itself as the last resort."""
        self.fallbacks[why] = self.fallbacks.get(why, 0) + 1
        table = self._table
        for other in self.routes:
            if other == route:
                continue
            prim, st, check = table[other]
            if check is None or check() is None:
                out = table[route][0]
                if isinstance(out, Blockable):
                    out.sent_elsewhere(why)
                self._bus.emit4(EventKind.ROUTER_FALLBACK, self.name, route, other, why)
                return other, "fallback", prim, st
        self.fallbacks[why] -= 1  # nowhere else to go: not a fallback after all
        self.last_resort += 1
        self._bus.emit4(EventKind.ROUTER_FALLBACK, self.name, route, None, why)
        prim, st, _ = table[route]
        return route, reason, prim, st

    async def open_stream(self, data: Any, ctx: Context) -> Any:
        """Stream from the chosen route; counted like ``execute`` when the stream ends."""
        from flowdeck.engine.stream import Observed, open_upstream

        route, reason, prim, st = await self._choose(data, ctx)
        st.count += 1
        t0 = _perf()
        try:
            up = await open_upstream(prim, data, ctx)
        except Exception as exc:
            st.errors += 1
            self._bus.emit3(EventKind.ROUTE_ERROR, self.name, route, type(exc).__name__)
            raise

        def end(result: Completion | None, exc: BaseException | None, dt: float) -> None:
            if exc is not None:
                st.errors += 1
                self._bus.emit3(EventKind.ROUTE_ERROR, self.name, route, type(exc).__name__)
                return
            if result is None:
                return  # left early: neither a failure nor a finished request
            st.latency.record(dt)
            st.cost += result.cost
            self._bus.emit4(EventKind.ROUTE, self.name, route, reason, dt)

        return Observed(up, st.ttft.record, end, t0)

    async def execute(self, data: Any, ctx: Context) -> Any:
        # The hot path: awaitables are only checked for non-str choices
        # (inspect.isawaitable alone costs about a microsecond), and one dict lookup
        # finds both the route and its stats.
        route = self.pinned
        if route is not None:
            reason = "pin"
            entry = self._table[route]
        elif self._buckets is not None:
            table = self._buckets
            key = self._key
            if key is None:
                route = table[int(_random() * BUCKETS)]
            else:
                route = table[bucket_of(key(data, ctx) if self._key_takes_ctx else key(data))]
            reason = "weight"
            entry = self._table[route]
        else:
            select = self._select
            assert select is not None
            choice = select(data, ctx) if self._select_takes_ctx else select(data)
            if type(choice) is not str and (self._select_async or inspect.isawaitable(choice)):
                choice = await choice
            got = self._table.get(choice)
            if got is not None:
                route, reason, entry = choice, "select", got
            else:
                self.unknown += 1
                if self.default is None:
                    raise self._no_route(choice)
                route, reason = self.default, "unknown"
                entry = self._table[route]
        prim, st, check = entry
        if check is not None:
            why = check()
            if why is not None:
                route, reason, prim, st = self._fallback(route, reason, why)
        st.count += 1
        t0 = _perf()
        try:
            result = await prim.execute(data, ctx)
        except Exception as exc:
            st.errors += 1
            self._bus.emit3(EventKind.ROUTE_ERROR, self.name, route, type(exc).__name__)
            raise
        dt = _perf() - t0
        st.latency.record(dt)
        if type(result) is Completion:
            st.cost += result.cost
        elif type(result) is not str:
            st.cost += cost_of(result)
        self._bus.emit4(EventKind.ROUTE, self.name, route, reason, dt)
        return result

    def _no_route(self, choice: Any) -> UnknownRoute:
        return UnknownRoute(
            f"router {self.name!r}: select chose {choice!r}, which is not a route"
            f" (routes: {list(self.routes)}; give the Router a default to send such"
            " requests somewhere)"
        )

    def pin(self, route: str | None) -> None:
        if route is not None and route not in self.routes:
            raise NotFound(f"router {self.name!r} has no route {route!r} (has {list(self.routes)})")
        self.pinned = route
        self._bus.emit4(EventKind.ROUTER_CONFIG, self.name, route, None, None)

    def providers_of(self, route: str) -> list[str] | None:
        """Provider names behind a provider-backed route, None for other routes."""
        prim = self.routes[route]
        return list(prim.providers) if isinstance(prim, Remappable) else None

    def tier_of(self, route: str) -> str | None:
        """The tier (or provider) name behind a provider-backed route: its budget's name."""
        prim = self.routes[route]
        return prim.label if isinstance(prim, Remappable) else None

    def set_model(self, route: str, provider: str) -> None:
        """Re-map a provider-backed route: ``provider`` first, the old list as fallback."""
        if route not in self.routes:
            raise NotFound(f"router {self.name!r} has no route {route!r} (has {list(self.routes)})")
        prim = self.routes[route]
        if not isinstance(prim, Remappable):
            raise BadParams(f"route {route!r} of router {self.name!r} is not provider-backed")
        new = prim.remapped(provider)
        if self._host is not None:
            new.bind(self._host)
        self._replace(route, new)

    def _replace(self, route: str, prim: Primitive) -> None:
        self.routes[route] = prim
        self._table[route] = self._entry(route)
        names = self.providers_of(route)
        self._bus.emit4(EventKind.ROUTER_CONFIG, self.name, self.pinned, route, names)

    def configured_providers(self, route: str) -> list[str] | None:
        prim = self.configured[route]
        return list(prim.providers) if isinstance(prim, Remappable) else None

    def restore(self, route: str | None = None) -> dict[str, list[str] | None]:
        """Put ``route`` (None: every provider-backed route) back to its configured
        provider order, undoing re-maps; returns the provider lists now."""
        if route is not None and route not in self.routes:
            raise NotFound(f"router {self.name!r} has no route {route!r} (has {list(self.routes)})")
        names = [route] if route is not None else list(self.routes)
        done: dict[str, list[str] | None] = {}
        for r in names:
            if not isinstance(self.configured[r], Remappable):
                if route is not None:
                    raise BadParams(f"route {r!r} of router {self.name!r} is not provider-backed")
                continue
            if self.routes[r] is not self.configured[r]:
                self._replace(r, self.configured[r])
            done[r] = self.providers_of(r)
        return done

    def set_weights(self, weights: dict[str, float] | None) -> None:
        """Split by ``weights`` from now on; None: back to the configured weights (or,
        without any, to the selector). A pin still wins over weights."""
        if weights is None:
            new = self.configured_weights
        else:
            new = check_weights(self.name, self.routes, weights)
        self._set_weights(new)
        self._bus.emit2(EventKind.ROUTER_WEIGHTS, self.name, new)

    @property
    def total(self) -> int:
        """Requests routed (the sum of the per-route counts)."""
        return sum(st.count for st in self.stats_by_route.values())

    def stats(self) -> dict[str, Any]:
        total = self.total
        routes = {}
        for r, st in self.stats_by_route.items():
            p50, p95, p99 = st.latency.quantiles(0.5, 0.95, 0.99)
            ttft50, ttft95 = st.ttft.quantiles(0.5, 0.95)
            routes[r] = {
                "count": st.count,
                "share": st.count / total if total else 0.0,
                "errors": st.errors,
                "cost": st.cost,
                "p50": p50,
                "p95": p95,
                "p99": p99,
                "ttft_p50": ttft50,
                "ttft_p95": ttft95,
            }
        return {
            "total": total,
            "unknown": self.unknown,
            "fallbacks": dict(self.fallbacks),
            "last_resort": self.last_resort,
            "pinned": self.pinned,  # in stats too: the Fleet view sees it per engine
            "routes": routes,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "routes": list(self.routes),
            "default": self.default,
            "pin": self.pinned,
            "providers": {r: self.providers_of(r) for r in self.routes},
            "configured": {r: self.configured_providers(r) for r in self.routes},
            "tiers": {r: self.tier_of(r) for r in self.routes},
            "weights": self.weights,
            "configured_weights": self.configured_weights,
            "targets": shares(self.weights) if self.weights is not None else None,
            "sticky": self._key is not None,
            "selector": self._select is not None,
            "sources": self._sources(),
            "stats": self.stats(),
        }
