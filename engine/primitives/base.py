"""The primitive protocol and the two composition operators.

``a >> b`` runs b on a's output; ``a | b`` runs both on the same input and returns
the list of their results. Both flatten, so composition is associative:
``a | (b | c)`` and ``(a | b) | c`` are the same three-branch group.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flowdeck.engine.context import Context
from flowdeck.engine.telemetry.events import NULL_BUS, EventBus

if TYPE_CHECKING:
    from flowdeck.engine.primitives.host import Host
    from flowdeck.engine.stores.redis_link import RedisLink


def flow_label(flow: Primitive) -> str:
    """How telemetry names a flow: its name, or its kind for an unnamed one."""
    return flow.name or flow.kind


class Primitive:
    """Anything that can run in a flow: one async method, ``execute(data, ctx)``."""

    name: str | None = None
    kind: str = "step"
    _bus: EventBus = NULL_BUS
    _host: Host | None = None

    async def execute(self, data: Any, ctx: Context) -> Any:
        raise NotImplementedError

    async def __call__(self, data: Any, ctx: Context | None = None) -> Any:
        return await self.execute(data, ctx if ctx is not None else Context())

    def children(self) -> tuple[Primitive, ...]:
        """Primitives nested inside this one (walked when a flow is registered)."""
        return ()

    def bind(self, host: Host) -> None:
        """Attach to a host (the engine): its event bus, Redis, providers. Called once on
        register."""
        self._host = host
        self._bus = host.bus

    def _redis(self) -> RedisLink | None:
        """The host's RedisLink, or None (not bound, or no ``redis_url``)."""
        host = self._host
        return host.redis if host is not None else None

    def _sources(self) -> dict[str, str]:
        """Where each runtime setting's value came from: config / runtime / fleet."""
        host = self._host
        return host.sources_of(self.kind, self.name or "") if host is not None else {}

    def describe(self) -> dict[str, Any]:
        """Config and stats for snapshots (named primitives override this)."""
        return {"name": self.name, "kind": self.kind}

    def walk(self) -> Iterator[Primitive]:
        yield self
        for child in self.children():
            yield from child.walk()

    def __rshift__(self, other: Any) -> Sequence:
        return Sequence(self, as_primitive(other))

    def __rrshift__(self, other: Any) -> Sequence:
        return Sequence(as_primitive(other), self)

    def __or__(self, other: Any) -> Primitive:
        from flowdeck.engine.primitives.parallel import Parallel

        return Parallel._join(self, as_primitive(other))

    def __ror__(self, other: Any) -> Primitive:
        from flowdeck.engine.primitives.parallel import Parallel

        return Parallel._join(as_primitive(other), self)


class Step(Primitive):
    """Wrap a sync or async callable taking ``(data, ctx)`` or ``(data)``."""

    __slots__ = ("_call", "_fn", "_is_async", "_takes_ctx", "name")

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        if isinstance(fn, Primitive):
            raise TypeError("Step() wraps a callable, not a Primitive")
        if not callable(fn):
            raise TypeError(f"Step() needs a callable, got {type(fn).__name__}")
        self._fn = fn
        self._takes_ctx = _positional_arity(fn) >= 2
        self._is_async = inspect.iscoroutinefunction(fn) or (
            not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)
        )
        # Steps are not registered with the control plane; the name is for timelines.
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    async def execute(self, data: Any, ctx: Context) -> Any:
        result = self._fn(data, ctx) if self._takes_ctx else self._fn(data)
        if self._is_async or inspect.isawaitable(result):
            return await result
        return result

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "step"}

    def __repr__(self) -> str:
        return f"Step({self.name})"


class Sequence(Primitive):
    """Run steps one after another, each on the previous one's output."""

    kind = "sequence"

    def __init__(self, *steps: Primitive) -> None:
        flat: list[Primitive] = []
        for step in steps:
            if isinstance(step, Sequence) and step.name is None:
                flat.extend(step.steps)
            else:
                flat.append(step)
        self.steps: tuple[Primitive, ...] = tuple(flat)

    async def execute(self, data: Any, ctx: Context) -> Any:
        for step in self.steps:
            data = await step.execute(data, ctx)
        return data

    def children(self) -> tuple[Primitive, ...]:
        return self.steps

    def __repr__(self) -> str:
        return " >> ".join(repr(s) for s in self.steps)


def as_primitive(obj: Any) -> Primitive:
    """A Primitive as is; a callable wrapped in a Step."""
    if isinstance(obj, Primitive):
        return obj
    if callable(obj):
        return Step(obj)
    raise TypeError(f"cannot compose {type(obj).__name__!r}: need a Primitive or a callable")


def _positional_arity(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` needs: the required ones only, so the
    ``lambda d, t=t: ...`` capture idiom is a one-argument step (``*args`` takes both)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 1
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return 2
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            count += 1
    return count
