"""ProviderCall: the primitive behind ``engine.provider(name)``, with tier fallback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flowdeck.engine.completion import Completion
from flowdeck.engine.context import Context
from flowdeck.engine.errors import NotFound, ProviderError
from flowdeck.engine.primitives.base import Primitive
from flowdeck.engine.providers.client import ProviderClient
from flowdeck.engine.providers.request import Request, validate_request
from flowdeck.engine.providers.streaming import ProviderStream
from flowdeck.engine.telemetry.events import NULL_BUS, EventKind

if TYPE_CHECKING:
    from flowdeck.engine.primitives.host import Host

T = TypeVar("T")


class ProviderCall(Primitive):
    """Call a tier: its providers in order, falling back on failure.

    Providers cooling down are skipped (if all of them are, the one whose cooldown
    ends first is tried rather than failing without a call). It has no ``name`` so it
    is never registered as a named primitive; ``label`` is the tier or provider name.
    Clients are looked up on the engine at call time, so a ProviderCall may be built
    before the engine starts.
    """

    kind = "provider"
    name = None

    def __init__(self, label: str, provider_names: list[str], engine: Host | None) -> None:
        if not provider_names:
            raise ValueError(f"provider call {label!r} needs at least one provider")
        self.label = label
        self._names: tuple[str, ...] = tuple(provider_names)
        self._host = engine
        self._bus = engine.bus if engine is not None else NULL_BUS
        self.fallbacks = 0

    @property
    def providers(self) -> list[str]:
        """Provider names in fallback order."""
        return list(self._names)

    def remapped(self, provider_name: str) -> ProviderCall:
        """The same tier with ``provider_name`` first and the others after, in order."""
        eng = self._host
        known = set(self._names)
        if eng is not None:
            known |= set(eng.providers) | set(eng.settings.providers)
        if provider_name not in known:
            raise NotFound(f"no provider named {provider_name!r} (known: {sorted(known)})")
        rest = [n for n in self._names if n != provider_name]
        return ProviderCall(self.label, [provider_name, *rest], eng)

    def _clients(self) -> list[ProviderClient]:
        eng = self._host
        if eng is None:
            raise ProviderError(f"{self.label}: not bound to an engine")
        clients = eng.providers
        try:
            return [clients[n] for n in self._names]
        except KeyError as exc:
            if not clients:
                raise ProviderError(
                    f"{self.label}: the engine has no provider clients (is it started?)"
                ) from None
            raise ProviderError(f"{self.label}: unknown provider {exc.args[0]!r}") from None

    def _request(self, data: Any) -> Request:
        if isinstance(data, str):
            return validate_request({"prompt": data})
        if isinstance(data, dict):
            return validate_request(data)
        raise TypeError(
            f"provider {self.label!r}: expected a prompt string or a request dict,"
            f" got {type(data).__name__}"
        )

    async def execute(self, data: Any, ctx: Context) -> Completion:
        req = self._request(data)
        clients = self._clients()
        if len(clients) == 1:
            # Fast path for a single provider: no fallback bookkeeping. It is called
            # even while cooling down, since there is nothing else to try.
            return await clients[0].complete_validated(req)
        return await self._with_fallback(clients, lambda c: c.complete_validated(req))

    async def open_stream(self, data: Any, ctx: Context) -> ProviderStream:
        """Stream from the tier: fall back to the next provider only before the first
        delta (a provider's stream is opened once its first delta is in)."""
        req = self._request(data)
        req["stream"] = True
        return await self._with_fallback(self._clients(), lambda c: c.open_stream(req))

    async def _with_fallback(
        self, clients: list[ProviderClient], call: Callable[[ProviderClient], Awaitable[T]]
    ) -> T:
        ready = [c for c in clients if not c.cooling_down()]
        if not ready:
            # Everyone rests: try the one back soonest rather than fail without a call.
            ready = [min(clients, key=lambda c: c.cooldown_until)]
        bus = self._bus
        first = clients[0]
        if first is not ready[0]:
            # The first choice is resting: show the traffic moving away from it.
            bus.emit4(
                EventKind.PROVIDER_FALLBACK, self.label, first.name, ready[0].name, "cooldown"
            )
        failures: list[str] = []
        last = len(ready) - 1
        for i, client in enumerate(ready):
            try:
                return await call(client)
            except ProviderError as exc:
                failures.append(str(exc))
                if i < last:
                    self.fallbacks += 1
                    bus.emit4(
                        EventKind.PROVIDER_FALLBACK,
                        self.label,
                        client.name,
                        ready[i + 1].name,
                        _reason(exc, client.name),
                    )
        tried = ", ".join(c.name for c in ready)
        msg = f"{self.label}: every provider failed (tried {tried}): " + "; ".join(failures)
        skipped = [c for c in clients if c not in ready]  # only needed for this message
        if skipped:
            msg += f" (skipped, cooling down: {', '.join(c.name for c in skipped)})"
        raise ProviderError(msg, provider=ready[-1].name)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "providers": self.providers,
            "fallbacks": self.fallbacks,
        }

    def __repr__(self) -> str:
        return f"ProviderCall({self.label!r}, {list(self._names)})"


def _reason(exc: ProviderError, name: str) -> str:
    """The error message without the ``name: `` prefix the client put on it."""
    text = str(exc)
    return text[len(name) + 2 :] if text.startswith(name + ": ") else text
