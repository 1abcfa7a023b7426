"""The Engine: owns the event bus, the HTTP session, Redis, providers and the registry."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from flowdeck.engine.context import Context
from flowdeck.engine.errors import EngineAlreadyRunning, RegistrationError, error_text
from flowdeck.engine.fleet.agent import FleetAgent
from flowdeck.engine.fleet.scope import Scope
from flowdeck.engine.primitives.base import Primitive, flow_label
from flowdeck.engine.primitives.cache import Cache
from flowdeck.engine.primitives.host import Closes, Configurable, Starts
from flowdeck.engine.primitives.memory import Memory
from flowdeck.engine.primitives.parallel import Parallel
from flowdeck.engine.primitives.router import Router
from flowdeck.engine.settings import EngineSettings
from flowdeck.engine.stream import Stream
from flowdeck.engine.telemetry.events import EventBus, EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow
from flowdeck.engine.version import PROTOCOL_VERSION, __version__

if TYPE_CHECKING:
    from flowdeck.engine.providers.budget import Budget
    from flowdeck.engine.providers.client import ProviderClient
    from flowdeck.engine.stores.redis_link import RedisLink

_perf = time.perf_counter
_new_object = object.__new__

REGISTRY_KINDS: dict[type[Primitive], str] = {
    Cache: "caches",
    Router: "routers",
    Parallel: "parallels",
    Memory: "memories",
}
_NAMED_KINDS = tuple(REGISTRY_KINDS)


class Engine:
    """An embeddable workflow engine.

    ``async with Engine(settings) as eng`` opens the HTTP session, connects Redis (if
    configured), builds providers and starts the control socket (unless
    ``settings.control`` is false). ``eng.run(flow, data)`` registers every named
    primitive in ``flow`` and runs it.
    """

    def __init__(self, settings: EngineSettings | None = None, **overrides: Any) -> None:
        if settings is None:
            settings = EngineSettings.load(**overrides)
        elif overrides:
            # Re-validate: model_copy(update=...) would let a bad override through.
            settings = settings.with_overrides(**overrides)
        self.settings = settings
        self.name = settings.name
        self.id = secrets.token_hex(8)  # new per process start: a restart is a new engine
        self.host = settings.host
        self.scope = Scope.of(settings.fleet, settings.redis_url)
        self.bus = EventBus(settings.event_ring)
        self.started_at = time.time()
        self.pid = os.getpid()
        self.version = __version__
        self.read_only = settings.read_only
        self.fleet = FleetAgent(self)  # setting sources + audit; heartbeats etc. with Redis
        self.session: aiohttp.ClientSession | None = None
        self.redis: RedisLink | None = None  # when redis_url is set
        self.providers: dict[str, ProviderClient] = {}
        self.budgets: dict[str, Budget] = {}  # by provider or tier (settings.budgets)
        self.caches: dict[str, Cache] = {}
        self.routers: dict[str, Router] = {}
        self.parallels: dict[str, Parallel] = {}
        self.memories: dict[str, Memory] = {}
        self._named: dict[str, Primitive] = {}
        self._registered: dict[int, Primitive] = {}
        self.control: Any = None  # engine.control.server.ControlServer
        self.socket_setting: str | None = None  # "--socket" when the CLI set it
        self.metrics: Any = None  # engine.telemetry.prometheus.MetricsServer
        # Per-run counters kept to the minimum a run must touch: a run adds one to
        # ``started`` and records its latency; ``runs`` and ``in_flight`` derive from
        # those (``unrecorded``: runs that ended without a latency, e.g. a stream that
        # failed to open).
        self.started = 0
        self.unrecorded = 0
        self.run_errors = 0
        self.run_latency = LatencyWindow(1024)
        self._started = False
        self._closing = False
        self._starting: set[asyncio.Task[None]] = set()

    # ---- lifecycle -------------------------------------------------------------------
    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._started:
            return
        from flowdeck.engine.providers import build_budgets, build_clients

        s = self.settings
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
            trust_env=False,
        )
        try:
            self.providers = build_clients(s, self.session, self.bus)
            self.budgets = build_budgets(s, self.providers, self.bus)
            if s.redis_url:
                from flowdeck.engine.stores.redis_link import RedisLink

                self.redis = RedisLink(
                    s.redis_url,
                    self.bus,
                    channel=self.scope.control_channel,
                    read_only=s.read_only,
                )
                await self.redis.start()
                await self.fleet.start(self.redis)  # overrides apply before we serve
            if s.control:
                await self._start_control()
            if s.metrics_port:
                from flowdeck.engine.telemetry.prometheus import MetricsServer

                self.metrics = MetricsServer(self, s.metrics_host, s.metrics_port)
                await self.metrics.start()
        except BaseException:
            await self.close()
            raise
        self._started = True
        for prim in list(self._registered.values()):
            await _maybe_start(prim)

    async def _start_control(self) -> None:
        """Bind the control socket: exactly ``settings.socket``, or ``<name>.<pid>.sock``
        in the runtime directory (a second engine of one process adds ``.2``, ...)."""
        from flowdeck.engine.control import discovery
        from flowdeck.engine.control.server import ControlServer

        explicit = self.settings.socket
        if explicit is None and os.environ.get("FLOWDECK_SOCKET"):
            explicit = Path(os.environ["FLOWDECK_SOCKET"])  # also when code passed None
        if explicit is not None:
            self.control = ControlServer(self, explicit)
            try:
                await self.control.start()
            except EngineAlreadyRunning as exc:
                said = self.socket_setting or discovery.socket_setting(self.settings)
                raise EngineAlreadyRunning(f"{exc}; stop it or change {said}") from None
            return
        for n in range(64):
            path = discovery.auto_socket_path(self.name, self.pid, n)
            self.control = ControlServer(self, path)
            try:
                await self.control.start()
                return
            except EngineAlreadyRunning:
                continue  # another engine of this process has that name
        raise EngineAlreadyRunning(f"64 engines named {self.name!r} already run in pid {self.pid}")

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            if self._starting:
                await asyncio.gather(*self._starting, return_exceptions=True)
            if self.metrics is not None:
                with contextlib.suppress(Exception):
                    await self.metrics.stop()
            if self.control is not None:
                with contextlib.suppress(Exception):
                    await self.control.stop()
            for prim in list(self._registered.values()):
                if isinstance(prim, Closes):
                    with contextlib.suppress(Exception):
                        await prim.aclose()
            with contextlib.suppress(Exception):
                await self.fleet.close()
            if self.redis is not None:
                with contextlib.suppress(Exception):
                    await self.redis.close()
            if self.session is not None:
                await self.session.close()
        finally:
            self._started = False

    # ---- flows -----------------------------------------------------------------------
    def provider(self, name: str) -> Primitive:
        """A primitive calling a tier (ordered providers, with fallback) or one provider."""
        from flowdeck.engine.providers.call import ProviderCall

        tiers = self.settings.tiers
        if name in tiers:
            names = list(tiers[name])
        elif name in self.providers or name in self.settings.providers:
            names = [name]
        else:
            known = sorted(set(tiers) | set(self.settings.providers))
            raise KeyError(f"no tier or provider named {name!r} (known: {known})")
        call = ProviderCall(name, names, self)
        call.bind(self)
        return call

    def add(self, flow: Primitive) -> Primitive:
        """Register every primitive in ``flow`` (idempotent for the same objects).

        Each is bound to this engine; named caches, routers, parallels and memories
        become reachable by name (names are unique within an engine).
        """
        fresh: dict[int, Primitive] = {}
        for prim in flow.walk():
            if id(prim) not in self._registered:
                fresh.setdefault(id(prim), prim)
        named: dict[str, Primitive] = {}
        for prim in fresh.values():
            if prim.name is None or not isinstance(prim, _NAMED_KINDS):
                continue
            other = named.get(prim.name) or self._named.get(prim.name)
            if other is not None and other is not prim:
                raise RegistrationError(
                    f"two primitives are named {prim.name!r} ({other.kind} and {prim.kind});"
                    " names must be unique within an engine"
                )
            named[prim.name] = prim
        for key, prim in fresh.items():
            # Keep the object, not just its id: a collected object's id can be reused.
            self._registered[key] = prim
            if isinstance(prim, Configurable) and prim.name in self.settings.caches:
                prim.apply_settings(self.settings.caches[prim.name])
            prim.bind(self)
            if self._started and isinstance(prim, Starts):
                # Added to a running engine: start it (e.g. a Memory loading its
                # namespace from Redis) without making add() a coroutine.
                task = asyncio.get_running_loop().create_task(_maybe_start(prim))
                self._starting.add(task)
                task.add_done_callback(self._starting.discard)
        for name, prim in named.items():
            self._named[name] = prim
            for cls, attr in REGISTRY_KINDS.items():
                if isinstance(prim, cls):
                    getattr(self, attr)[name] = prim
                    break
            self.fleet.registered(prim)  # config values noted, fleet overrides applied
        return flow

    async def run(self, flow: Primitive, data: Any, ctx: Context | None = None) -> Any:
        if flow._host is not self or self._starting:  # bound by add(): registered here
            if id(flow) not in self._registered:
                self.add(flow)
            if self._starting:
                await asyncio.gather(*self._starting)
        if ctx is None:
            # Context(self) without __init__'s keyword dict; vars come on first use
            # (Context.fresh, inlined: this runs once per run).
            ctx = _new_object(Context)
            ctx.engine = self
        self.started += 1
        t0 = _perf()
        try:
            return await flow.execute(data, ctx)
        except BaseException as exc:
            self.run_failed(flow, exc)
            raise
        finally:
            # LatencyWindow.record, inlined: this runs once per run.
            w = self.run_latency
            i = w.count
            w._buf[i & w._mask] = dt = _perf() - t0
            w.count = i + 1
            w.total += dt

    def run_failed(self, flow: Primitive, exc: BaseException) -> None:
        """Count a run (or stream) that raised, and name it in a ``run.error`` event."""
        self.run_errors += 1
        self.bus.emit2(EventKind.RUN_ERROR, flow_label(flow), error_text(exc))

    @property
    def runs(self) -> int:
        """Runs finished (ok or not)."""
        return self.run_latency.count + self.unrecorded

    @property
    def in_flight(self) -> int:
        """Runs started and not finished yet."""
        return self.started - self.runs

    def stream(self, flow: Primitive, data: Any, ctx: Context | None = None) -> Stream:
        """Run ``flow`` streaming: ``async for delta in eng.stream(flow, data)``.

        See :class:`engine.stream.Stream`; ``stream.completion`` after the last delta.
        """
        if id(flow) not in self._registered:
            self.add(flow)
        return Stream(self, flow, data, ctx if ctx is not None else Context.fresh(self))

    def get(self, name: str) -> Primitive:
        return self._named[name]

    def sources_of(self, kind: str, name: str) -> dict[str, str]:
        """Where each runtime setting of ``kind`` / ``name`` came from (the fleet's book)."""
        return self.fleet.book.sources_of(kind, name)

    # ---- state -----------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at,
            "version": self.version,
            "protocol": PROTOCOL_VERSION,
            "started": self.started_at,  # the name before identity had started_at
            "fleet": self.scope.fleet,
            "uptime": time.time() - self.started_at,
            "socket": str(self.control.path) if self.control is not None else None,
            "redis": self.redis.describe() if self.redis is not None else None,
            "read_only": self.read_only,
        }

    def workload(self) -> dict[str, Any]:
        p50, p95, p99 = self.run_latency.quantiles(0.5, 0.95, 0.99)
        return {
            "runs": self.runs,
            "errors": self.run_errors,
            "in_flight": self.in_flight,
            "p50": p50,
            "p95": p95,
            "p99": p99,
        }

    def snapshot(self) -> dict[str, Any]:
        """The complete state, stamped with the event sequence it is consistent with."""
        return {
            "seq": self.bus.seq,
            "time": time.time(),
            "engine": self.identity(),
            "workload": self.workload(),
            "caches": {n: c.describe() for n, c in self.caches.items()},
            "routers": {n: r.describe() for n, r in self.routers.items()},
            "parallels": {n: p.describe() for n, p in self.parallels.items()},
            "memories": {n: m.describe() for n, m in self.memories.items()},
            "providers": {n: p.health() for n, p in self.providers.items()},
            "budgets": {n: b.describe() for n, b in self.budgets.items()},
            "tiers": {t: list(v) for t, v in self.settings.tiers.items()},
            "fleet": self.fleet.describe(),
            "audit": self.fleet.audit.recent(),
        }

    def stats(self) -> dict[str, Any]:
        """Aggregates for the periodic ``stats`` notification (no timelines, no config)."""
        return {
            "seq": self.bus.seq,
            "time": time.time(),
            "uptime": time.time() - self.started_at,
            "redis": self.redis.describe() if self.redis is not None else None,
            "workload": self.workload(),
            "caches": {n: c.stats() for n, c in self.caches.items()},
            "routers": {n: r.stats() for n, r in self.routers.items()},
            "parallels": {n: p.stats() for n, p in self.parallels.items()},
            "memories": {n: m.stats() for n, m in self.memories.items()},
            "providers": {n: p.health() for n, p in self.providers.items()},
            "budgets": {n: b.describe() for n, b in self.budgets.items()},
        }


async def _maybe_start(prim: Primitive) -> None:
    if isinstance(prim, Starts):
        await prim.astart()
