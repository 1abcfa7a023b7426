"""What a primitive may use of the engine that runs it, as typed protocols.

Why: primitives used to hold the concrete ``Engine`` and reach into whatever it had
(a service locator). :class:`Host` names the few things they really use, so a
primitive can be run by a test double or another host, and ``engine.py`` can change
without touching them. The optional hooks a host calls on a primitive (start, close,
configuration, provider re-mapping) are protocols too, checked with ``isinstance``
instead of ``getattr`` on a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from flowdeck.engine.fleet.scope import Scope
    from flowdeck.engine.primitives.base import Primitive
    from flowdeck.engine.providers.budget import Budget
    from flowdeck.engine.providers.client import ProviderClient
    from flowdeck.engine.settings import CacheSettings, EngineSettings
    from flowdeck.engine.stores.redis_link import RedisLink
    from flowdeck.engine.telemetry.events import EventBus


class Host(Protocol):
    """The engine as a primitive sees it (``Primitive.bind(host)``)."""

    @property
    def bus(self) -> EventBus:
        """Where primitives emit telemetry."""
        ...

    @property
    def redis(self) -> RedisLink | None:
        """The shared Redis link, None without ``redis_url``."""
        ...

    @property
    def providers(self) -> Mapping[str, ProviderClient]:
        """Provider clients by name (empty until the host started)."""
        ...

    @property
    def budgets(self) -> Mapping[str, Budget]:
        """USD budgets by provider or tier name (empty until started, or none set)."""
        ...

    @property
    def settings(self) -> EngineSettings:
        """Configuration lookups (provider names, tiers)."""
        ...

    @property
    def scope(self) -> Scope:
        """The fleet's Redis key and channel names (engine.fleet.scope)."""
        ...

    def sources_of(self, kind: str, name: str) -> dict[str, str]:
        """Where each runtime setting of primitive ``kind`` / ``name`` came from
        (``config`` / ``runtime`` / ``fleet``), for its describe()."""
        ...


@runtime_checkable
class Starts(Protocol):
    """Has work to do once the host is running (e.g. Memory loads from Redis)."""

    async def astart(self) -> None: ...


@runtime_checkable
class Closes(Protocol):
    """Has work to finish when the host closes (in-flight fills, pending writes)."""

    async def aclose(self) -> None: ...


@runtime_checkable
class Configurable(Protocol):
    """Takes the ``caches.<name>`` overrides of the host's settings at registration."""

    name: str | None

    def apply_settings(self, settings: CacheSettings) -> None: ...


@runtime_checkable
class Remappable(Protocol):
    """A provider-backed route that a Router can point at another provider."""

    label: str
    """The tier or provider name (a budget of that name applies to the route)."""

    @property
    def providers(self) -> list[str]:
        """Provider names in fallback order."""
        ...

    def remapped(self, provider_name: str) -> Primitive:
        """The same call with ``provider_name`` first (a new primitive)."""
        ...


@runtime_checkable
class Blockable(Protocol):
    """A route that can say it should get no new traffic now (a tier whose providers
    all rest, or whose budget is spent): the Router then falls back to another route."""

    def blocked(self) -> str | None:
        """The reason (``"cooldown"`` / ``"budget"``), or None when it can take traffic."""
        ...

    def sent_elsewhere(self, why: str) -> None:
        """The Router sent a request elsewhere because of ``why`` (counted by the route)."""
        ...
