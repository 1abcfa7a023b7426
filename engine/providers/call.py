"""ProviderCall: the primitive behind ``engine.provider(name)``, with tier fallback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flowdeck.engine.completion import Completion
from flowdeck.engine.context import Context
from flowdeck.engine.errors import NotFound, ProviderError
from flowdeck.engine.primitives.base import Primitive
from flowdeck.engine.providers.budget import Budget
from flowdeck.engine.providers.client import ProviderClient
from flowdeck.engine.providers.request import Request, validate_request
from flowdeck.engine.providers.streaming import ProviderStream
from flowdeck.engine.telemetry.events import NULL_BUS, EventKind

if TYPE_CHECKING:
    from flowdeck.engine.primitives.host import Host

T = TypeVar("T")


class ProviderCall(Primitive):
    """Call a tier: its providers in order, falling back on failure.

    Providers cooling down or over their budget are skipped (counted per provider);
    if every one is out, the tier takes a last resort rather than failing without a
    call: the provider whose cooldown ends first, else the first one in order. A tier
    budget (``budgets.<tier>``) is recorded here; a Router skips a tier that is out
    (:meth:`blocked`). It has no ``name`` so it
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
        self.last_resort = 0

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

    def _budget(self) -> Budget | None:
        """The tier's own budget (a provider's budget is its client's)."""
        eng = self._host
        return eng.budgets.get(self.label) if eng is not None else None

    def sent_elsewhere(self, why: str) -> None:
        """A Router skipped this tier: count it on the tier's budget when that is why."""
        if why == "budget":
            b = self._budget()
            if b is not None and b.exhausted():
                b.skipped += 1

    def blocked(self) -> str | None:
        """Why this call should not get new traffic: ``"budget"`` (the tier's budget is
        spent, or every provider is over budget), ``"cooldown"`` (every provider rests),
        or None (something is ready). Cheap: the Router asks on every request."""
        eng = self._host
        if eng is None:
            return None
        budgets = eng.budgets
        if budgets:
            b = budgets.get(self.label)
            if b is not None and b.exhausted():
                return "budget"
        clients = eng.providers
        reason = None
        for n in self._names:
            c = clients.get(n)
            if c is None:
                return None  # not started: let the call say why
            if c.cooldown_until > 0.0 and c.cooling_down():
                reason = reason or "cooldown"
            elif c.budget is not None and c.budget.exhausted():
                reason = reason or "budget"
            else:
                return None
        return reason

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
            result = await clients[0].complete_validated(req)
        else:
            result = await self._with_fallback(clients, lambda c: c.complete_validated(req))
        budget = self._budget()
        if budget is not None:
            budget.spend(result.cost)
        return result

    async def open_stream(self, data: Any, ctx: Context) -> ProviderStream:
        """Stream from the tier: fall back to the next provider only before the first
        delta (a provider's stream is opened once its first delta is in)."""
        req = self._request(data)
        req["stream"] = True
        stream = await self._with_fallback(self._clients(), lambda c: c.open_stream(req))
        stream.budget = self._budget()  # the tier's budget is charged when the stream ends
        return stream

    async def _with_fallback(
        self, clients: list[ProviderClient], call: Callable[[ProviderClient], Awaitable[T]]
    ) -> T:
        ready: list[ProviderClient] = []
        out: list[tuple[ProviderClient, str]] = []
        for c in clients:
            if c.cooling_down():
                out.append((c, "cooldown"))
            elif c.over_budget():
                out.append((c, "budget"))
            else:
                ready.append(c)
        bus = self._bus
        first = clients[0]
        if not ready:
            # Everyone is out: a last resort rather than failing without a call, the
            # provider back soonest (else the first in order, all being over budget).
            resting = [c for c, why in out if why == "cooldown"]
            pick = min(resting, key=lambda c: c.cooldown_until) if resting else first
            ready = [pick]
            out = [(c, why) for c, why in out if c is not pick]
            self.last_resort += 1
            bus.emit4(EventKind.PROVIDER_FALLBACK, self.label, first.name, pick.name, "last resort")
        for c, why in out:
            c.skipped += 1
            if why == "budget" and c.budget is not None:
                c.budget.skipped += 1
        if first is not ready[0] and out and out[0][0] is first:
            # The first choice is out: show the traffic moving away from it.
            bus.emit4(EventKind.PROVIDER_FALLBACK, self.label, first.name, ready[0].name, out[0][1])
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
        if out:  # only needed for this message
            msg += f" (skipped: {', '.join(f'{c.name} ({why})' for c, why in out)})"
        raise ProviderError(msg, provider=ready[-1].name)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "providers": self.providers,
            "fallbacks": self.fallbacks,
            "last_resort": self.last_resort,
        }

    def __repr__(self) -> str:
        return f"ProviderCall({self.label!r}, {list(self._names)})"


def _reason(exc: ProviderError, name: str) -> str:
    """The error message without the ``name: `` prefix the client put on it."""
    text = str(exc)
    return text[len(name) + 2 :] if text.startswith(name + ": ") else text
