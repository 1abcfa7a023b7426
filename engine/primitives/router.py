"""Router: pick one route per request with a selector; pin and re-map at runtime."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from flowdeck.engine.completion import Completion, cost_of
from flowdeck.engine.context import Context
from flowdeck.engine.errors import BadParams, FlowdeckError, NotFound
from flowdeck.engine.primitives.base import Primitive, _positional_arity, as_primitive
from flowdeck.engine.primitives.host import Remappable
from flowdeck.engine.telemetry.events import EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

_perf = time.perf_counter


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
    pick of the first route). ``pin(route)`` forces every request to one route;
    ``pin(None)`` returns to the selector.
    Routes built from ``engine.provider(...)`` can be re-mapped to another provider
    with ``set_model``.
    """

    kind = "router"

    def __init__(
        self,
        routes: dict[str, Any],
        *,
        name: str | None = None,
        select: Callable[..., Any],
        default: str | None = None,
    ) -> None:
        if not routes:
            raise ValueError("Router needs at least one route")
        if not callable(select):
            raise TypeError("Router select must be callable")
        self.name = name
        self.routes: dict[str, Primitive] = {str(k): as_primitive(v) for k, v in routes.items()}
        if default is not None and default not in self.routes:
            raise ValueError(f"Router default {default!r} is not one of {list(self.routes)}")
        self.default: str | None = default
        self._select = select
        self._select_takes_ctx = _positional_arity(select) >= 2
        self._select_async = inspect.iscoroutinefunction(select)
        self.pinned: str | None = None
        self.stats_by_route: dict[str, RouteStats] = {r: RouteStats() for r in self.routes}
        # route -> (primitive, stats): one lookup on the hot path instead of three.
        self._table: dict[str, tuple[Primitive, RouteStats]] = {
            r: (p, self.stats_by_route[r]) for r, p in self.routes.items()
        }
        self.unknown = 0

    def children(self) -> tuple[Primitive, ...]:
        return tuple(self.routes.values())

    async def _choose(self, data: Any, ctx: Context) -> tuple[str, str, Primitive, RouteStats]:
        """Route, reason, primitive and stats for ``data`` (the streaming path's choice;
        ``execute`` keeps the same steps inline, its hot path)."""
        route = self.pinned
        if route is not None:
            return (route, "pin", *self._table[route])
        choice = self._select(data, ctx) if self._select_takes_ctx else self._select(data)
        if type(choice) is not str and (self._select_async or inspect.isawaitable(choice)):
            choice = await choice
        entry = self._table.get(choice)
        if entry is not None:
            return (choice, "select", *entry)
        self.unknown += 1
        if self.default is None:
            raise self._no_route(choice)
        return (self.default, "unknown", *self._table[self.default])

    async def open_stream(self, data: Any, ctx: Context) -> Any:
        """Stream from the chosen route; counted like ``execute`` when the stream ends."""
        from flowdeck.engine.stream import Observed, open_upstream

        route, reason, prim, st = await self._choose(data, ctx)
        st.count += 1
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

        return Observed(up, st.ttft.record, end)

    async def execute(self, data: Any, ctx: Context) -> Any:
        # The hot path: awaitables are only checked for non-str choices
        # (inspect.isawaitable alone costs about a microsecond), and one dict lookup
        # finds both the route and its stats.
        route = self.pinned
        if route is not None:
            reason = "pin"
            prim, st = self._table[route]
        else:
            choice = self._select(data, ctx) if self._select_takes_ctx else self._select(data)
            if type(choice) is not str and (self._select_async or inspect.isawaitable(choice)):
                choice = await choice
            entry = self._table.get(choice)
            if entry is not None:
                route, reason = choice, "select"
            else:
                self.unknown += 1
                if self.default is None:
                    raise self._no_route(choice)
                route, reason = self.default, "unknown"
                entry = self._table[route]
            prim, st = entry
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
        self.routes[route] = new
        self._table[route] = (new, self.stats_by_route[route])
        names = self.providers_of(route)
        self._bus.emit4(EventKind.ROUTER_CONFIG, self.name, self.pinned, route, names)

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
        return {"total": total, "unknown": self.unknown, "routes": routes}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "routes": list(self.routes),
            "default": self.default,
            "pin": self.pinned,
            "providers": {r: self.providers_of(r) for r in self.routes},
            "sources": self._sources(),
            "stats": self.stats(),
        }
