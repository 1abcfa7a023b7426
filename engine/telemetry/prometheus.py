"""Optional Prometheus endpoint: ``GET /metrics`` over aiohttp, exposition by prometheus_client.

Long on purpose: one exporter, its port hand-over and every metric family in one place.

One port per host: workers sharing ``metrics_port`` all start; the one that binds it
serves, the others stand by and try to bind it every ``standby_interval`` seconds, so
when the server exits another takes the port within that time. A scrape reports every
live engine of the host, each series labelled ``engine`` (name) and ``pid``: the server
reads its own ``engine.stats()`` and the others' ``stats`` from their control sockets at
scrape time (discovery). Unlike prometheus_client's multiprocess mode (every process
writes mmap'ed files into a shared directory that the exporter sums, and which must be
wiped at each restart), nothing is written to disk and nothing is summed for you: the
primitives' own counters are the truth, a restarted worker is a new ``pid`` series (no
counter ever goes backwards), and Prometheus sums with ``sum without (engine, pid)``.
Latency histograms (provider calls, routes) are fed from the event ring: the server
keeps its own cursor and drains it at every scrape and once a second, so it never
touches the hot path. Needs the ``metrics`` extra (``pip install 'flowdeck[metrics]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from flowdeck.engine.control.schema import PROVIDER_STATES, EventKind, field_index
from flowdeck.engine.errors import FlowdeckError

# Positions of the fields this exporter reads, by name from the wire contract.
_CALL_PROVIDER = field_index(EventKind.PROVIDER_CALL, "provider")
_CALL_LATENCY = field_index(EventKind.PROVIDER_CALL, "latency_s")
_ROUTE_NAME = field_index(EventKind.ROUTE, "name")
_ROUTE_ROUTE = field_index(EventKind.ROUTE, "route")
_ROUTE_LATENCY = field_index(EventKind.ROUTE, "latency_s")
_END_SOURCE = field_index(EventKind.STREAM_END, "source")
_END_PROVIDER = field_index(EventKind.STREAM_END, "provider")
_END_TTFT = field_index(EventKind.STREAM_END, "ttft_s")

if TYPE_CHECKING:
    from flowdeck.engine.engine import Engine

log = logging.getLogger("flowdeck.engine.telemetry.prometheus")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class MetricsUnavailable(FlowdeckError):
    """prometheus_client is not installed."""


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise MetricsUnavailable(
            "metrics need prometheus-client: pip install 'flowdeck[metrics]'"
            " (or unset metrics_port)"
        ) from exc
    return prometheus_client


def _num(value: Any) -> float | None:
    if isinstance(value, int | float):  # bool is an int: True -> 1.0
        return float(value)
    return None


Source = tuple[Mapping[str, Any], dict[str, Any]]  # (identity or hello, stats)
"""One engine's ``(identity, stats)``."""


def engine_labels(identity: Mapping[str, Any]) -> dict[str, str]:
    return {"engine": str(identity.get("name", "")), "pid": str(identity.get("pid", ""))}


class StatsCollector:
    """A prometheus_client collector of every engine's ``stats`` at scrape time.

    ``sources`` is set by the server right before each exposition; empty means only the
    serving engine (read directly).
    """

    def __init__(self, engine: Engine) -> None:
        _prometheus()
        import prometheus_client.core as core

        self.engine = engine
        self._core = core
        self.sources: list[Source] = []

    def describe(self) -> list[Any]:
        return []  # families depend on what is registered; collected on demand

    def collect(self) -> Iterator[Any]:
        fams: dict[str, Any] = {}
        eng = self.engine
        for identity, stats in self.sources or [(eng.identity(), eng.stats())]:
            self._collect_one(fams, identity, stats)
        yield from fams.values()

    def _collect_one(self, fams: dict[str, Any], ident: Mapping[str, Any], stats: Any) -> None:
        core = self._core
        who = engine_labels(ident)
        eng = self.engine if ident.get("id") == self.engine.id else None  # config: own only

        def add(kind: str, name: str, doc: str, labels: dict[str, str], value: Any) -> None:
            v = _num(value)
            if v is None:
                return
            labels = {**who, **labels}
            fam = fams.get(name)
            if fam is None:
                cls = core.CounterMetricFamily if kind == "c" else core.GaugeMetricFamily
                fam = fams[name] = cls(name, doc, labels=list(labels))
            fam.add_metric(list(labels.values()), v)

        add("g", "flowdeck_engine_info", "Engine identity.", {
            "version": str(ident.get("version")), "id": str(ident.get("id")),
            "host": str(ident.get("host"))}, 1)  # fmt: skip
        add("c", "flowdeck_events", "Events emitted on the engine's ring.", {}, stats.get("seq"))
        add("g", "flowdeck_uptime_seconds", "Seconds since the engine started.", {},
            stats.get("uptime"))  # fmt: skip
        wl = stats.get("workload") or {}
        add("c", "flowdeck_runs", "Flow runs finished.", {}, wl.get("runs"))
        add("c", "flowdeck_run_errors", "Flow runs that raised.", {}, wl.get("errors"))
        add("g", "flowdeck_runs_in_flight", "Flow runs in progress.", {}, wl.get("in_flight"))
        redis = stats.get("redis")
        if isinstance(redis, dict):
            add("g", "flowdeck_redis_up", "1 when Redis is reachable.", {}, redis.get("up"))

        for name, c in (stats.get("caches") or {}).items():
            lab = {"cache": name}
            for layer in ("l1", "l2"):
                add("c", "flowdeck_cache_hits", "Cache hits by layer.",
                    {**lab, "layer": layer}, c.get(f"hits_{layer}"))  # fmt: skip
            add("c", "flowdeck_cache_misses", "Cache misses.", lab, c.get("misses"))
            add("c", "flowdeck_cache_coalesced", "Misses that waited on an in-flight call.",
                lab, c.get("coalesced"))  # fmt: skip
            add("c", "flowdeck_cache_sets", "Entries stored.", lab, c.get("sets"))
            for reason, n in (c.get("evictions") or {}).items():
                add("c", "flowdeck_cache_evictions", "Evictions by reason.",
                    {**lab, "reason": str(reason)}, n)  # fmt: skip
            add("g", "flowdeck_cache_size", "Entries in L1.", lab, c.get("size"))
            cfg = eng.caches.get(name) if eng else None  # config: describe(), not stats()
            if cfg is not None:
                add("g", "flowdeck_cache_max_size", "L1 capacity.", lab, cfg.max_size)
                add("g", "flowdeck_cache_ttl_seconds", "Entry time-to-live.", lab, cfg.ttl)
            add("g", "flowdeck_cache_hit_ratio", "Hits / lookups.", lab, c.get("hit_rate"))
            add("c", "flowdeck_cache_l2_errors", "Redis errors.", lab, c.get("l2_errors"))
            add("c", "flowdeck_cache_l2_too_large", "Values over l2_max_bytes, kept in L1 only.",
                lab, c.get("l2_too_large"))  # fmt: skip
            add("c", "flowdeck_cache_time_saved_seconds", "Inner latency avoided by hits.",
                lab, c.get("time_saved"))  # fmt: skip
            add("c", "flowdeck_cache_cost_saved_usd", "Provider cost avoided by hits.",
                lab, c.get("cost_saved"))  # fmt: skip

        for name, r in (stats.get("routers") or {}).items():
            add("c", "flowdeck_router_unknown", "Selections that named no route.",
                {"router": name}, r.get("unknown"))  # fmt: skip
            for reason, n in (r.get("fallbacks") or {}).items():
                add("c", "flowdeck_router_fallbacks", "Requests sent to another route, by reason.",
                    {"router": name, "reason": str(reason)}, n)  # fmt: skip
            add("c", "flowdeck_router_last_resort", "Requests sent on with every route out.",
                {"router": name}, r.get("last_resort"))  # fmt: skip
            rcfg = eng.routers.get(name) if eng else None
            if rcfg is not None and rcfg.weights is not None:
                total_w = sum(rcfg.weights.values()) or 1.0
                for route, w in rcfg.weights.items():
                    add("g", "flowdeck_route_weight_share", "Target share of a weighted split.",
                        {"router": name, "route": route}, w / total_w)  # fmt: skip
            for route, st in (r.get("routes") or {}).items():
                lab = {"router": name, "route": str(route)}
                add("c", "flowdeck_route_requests", "Requests by route.", lab, st.get("count"))
                add("c", "flowdeck_route_errors", "Failed requests by route.", lab,
                    st.get("errors"))  # fmt: skip
                add("c", "flowdeck_route_cost_usd", "Cost by route.", lab, st.get("cost"))
                add("g", "flowdeck_route_share", "Share of the router's requests.", lab,
                    st.get("share"))  # fmt: skip

        for name, p in (stats.get("providers") or {}).items():
            lab = {"provider": name}
            add("c", "flowdeck_provider_calls", "Provider calls.", lab, p.get("calls"))
            add("c", "flowdeck_provider_errors", "Failed provider calls.", lab, p.get("errors"))
            add("c", "flowdeck_provider_retries", "Provider retries.", lab, p.get("retries"))
            add("c", "flowdeck_provider_cost_usd", "Provider cost.", lab, p.get("cost"))
            for direction in ("in", "out"):
                add("c", "flowdeck_provider_tokens", "Tokens by direction.",
                    {**lab, "direction": direction}, p.get(f"tokens_{direction}"))  # fmt: skip
            add("g", "flowdeck_provider_cooldown_remaining_seconds", "Cooldown left.", lab,
                p.get("cooldown_remaining"))  # fmt: skip
            add("g", "flowdeck_provider_consecutive_failures", "Failures in a row.", lab,
                p.get("consecutive_failures"))  # fmt: skip
            add("g", "flowdeck_provider_in_flight", "Provider calls in progress.", lab,
                p.get("in_flight"))  # fmt: skip
            add("c", "flowdeck_provider_skipped", "Calls a tier sent elsewhere (out).", lab,
                p.get("skipped"))  # fmt: skip
            add("c", "flowdeck_provider_cooldowns", "Cooldowns started.", lab,
                p.get("cooldowns"))  # fmt: skip
            if "state" in p:  # one series per state, 1 for the current one
                for st_name in PROVIDER_STATES:
                    add("g", "flowdeck_provider_state", "1 for the provider's current state.",
                        {**lab, "state": st_name.replace(" ", "_")},
                        1 if p.get("state") == st_name else 0)  # fmt: skip

        for name, b in (stats.get("budgets") or {}).items():
            lab = {"budget": name, "scope": str(b.get("scope")), "period": str(b.get("period"))}
            add("g", "flowdeck_budget_usd", "Budget per period.", lab, b.get("usd"))
            add("g", "flowdeck_budget_spent_usd", "Spent this period.", lab, b.get("spent"))
            add("g", "flowdeck_budget_remaining_usd", "Left this period.", lab, b.get("remaining"))
            add("g", "flowdeck_budget_burn_usd_per_hour", "Spend rate this period.", lab,
                b.get("burn_per_hour"))  # fmt: skip
            add("c", "flowdeck_budget_skipped", "Calls sent elsewhere: budget spent.", lab,
                b.get("skipped"))  # fmt: skip

        for name, par in (stats.get("parallels") or {}).items():
            lab = {"parallel": name}
            add("c", "flowdeck_parallel_runs", "Parallel runs.", lab, par.get("runs"))
            add("c", "flowdeck_parallel_errors", "Parallel runs that failed.", lab,
                par.get("errors"))  # fmt: skip
            add("c", "flowdeck_parallel_cancelled", "Parallel runs cancelled.", lab,
                par.get("cancelled"))  # fmt: skip
            add("c", "flowdeck_parallel_branches_cancelled", "Branches cancelled (fail fast too).",
                lab, par.get("branches_cancelled"))  # fmt: skip
            add("g", "flowdeck_parallel_speedup", "Busy / wall time of runs that finished.",
                lab, par.get("speedup"))  # fmt: skip

        for name, m in (stats.get("memories") or {}).items():
            lab = {"memory": name}
            add("g", "flowdeck_memory_size", "Entries in memory.", lab, m.get("size"))
            add("c", "flowdeck_memory_adds", "Entries added.", lab, m.get("adds"))
            add("c", "flowdeck_memory_searches", "Searches.", lab, m.get("searches"))
            add("c", "flowdeck_memory_l2_errors", "Redis errors.", lab, m.get("l2_errors"))


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (port 0 picks a free one; see ``port`` after start)."""

    drain_interval = 1.0
    standby_interval = 1.0
    """Seconds between a standby's attempts to take the port (takeover within this)."""
    peer_timeout = 0.5
    """Seconds another engine's socket may take to answer a scrape's ``stats`` read."""

    def __init__(self, engine: Engine, host: str = "127.0.0.1", port: int = 9464) -> None:
        self.engine = engine
        self.host = host
        self.port = port
        self.registry: Any = None
        self.collector: StatsCollector | None = None
        self.peers = True
        """Report the other engines of the host too (their sockets, at scrape time)."""
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._standby: asyncio.Task[None] | None = None
        self._cursor = engine.bus.seq
        self.events_missed = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    async def start(self) -> None:
        prom = _prometheus()
        reg = self.registry = prom.CollectorRegistry(auto_describe=False)
        self.collector = StatsCollector(self.engine)
        reg.register(self.collector)
        self._provider_latency = prom.Histogram(
            "flowdeck_provider_latency_seconds",
            "Provider call latency of the serving engine (from provider.call events).",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self._route_latency = prom.Histogram(
            "flowdeck_route_latency_seconds",
            "Latency of the chosen route, serving engine (from route events).",
            ["router", "route"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        # The OpenTelemetry GenAI metric gen_ai.client.operation.time_to_first_chunk,
        # in Prometheus spelling (dots become underscores, the unit a suffix).
        self._ttft = prom.Histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time to the first delta of a streamed request (from stream.end events).",
            ["provider", "source"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self._missed = prom.Counter(
            "flowdeck_metrics_events_missed",
            "Events the metrics reader lost to the ring (histograms undercount by this).",
            registry=reg,
        )
        self._content_type = prom.CONTENT_TYPE_LATEST
        self._generate = prom.generate_latest
        if not await self._bind():
            log.info("metrics port %s:%s is served by another engine; standing by",
                     self.host, self.port)  # fmt: skip
            self._standby = asyncio.get_running_loop().create_task(self._stand_by())

    @property
    def serving(self) -> bool:
        return self._runner is not None

    async def _stand_by(self) -> None:
        # No event tells us another process released a port: try it now and then.
        while not await self._bind():  # noqa: ASYNC110
            await asyncio.sleep(self.standby_interval)
        log.info("took over the metrics port %s", self.url)

    async def _bind(self) -> bool:
        """Serve the port; False when another process holds it (errno EADDRINUSE)."""
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._task = asyncio.get_running_loop().create_task(self._drain_loop())
        log.info("metrics on %s", self.url)
        return True

    async def stop(self) -> None:
        if self._standby is not None:
            self._standby.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._standby
            self._standby = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def drain(self) -> None:
        """Feed the latency histograms with events since the last drain."""
        bus = self.engine.bus
        events, dropped, self._cursor = bus.read_since(self._cursor)
        if dropped:
            self.events_missed += dropped
            self._missed.inc(dropped)
        call, route, end = EventKind.PROVIDER_CALL, EventKind.ROUTE, EventKind.STREAM_END
        plat, rlat, ttft = self._provider_latency, self._route_latency, self._ttft
        for e in events:
            kind = e[2]
            if kind == call:
                lat = e[_CALL_LATENCY]
                if isinstance(lat, int | float):
                    plat.labels(str(e[_CALL_PROVIDER])).observe(lat)
            elif kind == route:
                lat = e[_ROUTE_LATENCY]
                if isinstance(lat, int | float):
                    rlat.labels(str(e[_ROUTE_NAME]), str(e[_ROUTE_ROUTE])).observe(lat)
            elif kind == end:
                first = e[_END_TTFT]
                if isinstance(first, int | float):
                    ttft.labels(str(e[_END_PROVIDER] or ""), str(e[_END_SOURCE])).observe(first)

    async def _drain_loop(self) -> None:
        while True:
            await asyncio.sleep(self.drain_interval)
            try:
                self.drain()
            except Exception:
                log.exception("metrics drain failed")

    async def sources(self) -> list[Source]:
        """``(identity, stats)`` of this engine and every other live engine of the host."""
        eng = self.engine
        own: Source = (eng.identity(), eng.stats())
        if not self.peers:
            return [own]
        from flowdeck.engine.control import discovery

        try:
            peers = await discovery.discover(wait=self.peer_timeout)
        except discovery.DiscoveryError:
            return [own]
        peers = [p for p in peers if p.id != eng.id]
        frames = await asyncio.gather(
            *(discovery.stats_frames(p.socket, 1, self.peer_timeout) for p in peers)
        )
        out = [own]
        out.extend((p.hello, f[0]) for p, f in zip(peers, frames, strict=True) if f)
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            if self.collector is not None:
                self.collector.sources = await self.sources()
            self.drain()
            body = self._generate(self.registry)
        except Exception as exc:
            log.exception("metrics scrape failed")
            return web.Response(status=500, text=f"metrics failed: {type(exc).__name__}\n")
        return web.Response(body=body, headers={"Content-Type": self._content_type})
