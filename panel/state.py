"""The panel's model of one engine: a pure object fed with control-plane updates.

Updates from the LiveClient (``snapshot``, ``stats``, ``events``, ``dropped``, ``state``)
are applied here immediately and cheaply; the widgets read this model when they repaint
on the refresh timer. Nothing in this module imports Textual, so it is unit-tested with
plain dicts shaped like ``docs/internals.md``.

Longer than most modules: one model object whose update methods share its fields;
splitting it would pass the whole state around instead.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.control.schema import EventKind, decode
from flowdeck.panel.fmt import BREAK

CONNECTING, CONNECTED, DISCONNECTED = "connecting", "connected", "disconnected"

# Event kinds the model interprets (every event is still kept in the log ring).
_INTERESTING = frozenset(
    {
        EventKind.CACHE_FLUSH,
        EventKind.CACHE_CONFIG,
        EventKind.ROUTER_CONFIG,
        EventKind.PARALLEL_BRANCH,
        EventKind.PARALLEL_RUN,
        EventKind.MEMORY_CLEAR,
        EventKind.REDIS,
        EventKind.ROUTER_WEIGHTS,
        EventKind.PROVIDER_COOLDOWN,
        EventKind.PROVIDER_RESUME,
        EventKind.AUDIT,
    }
)
_GROUP_OF_KIND = {
    "cache": "caches",
    "router": "routers",
    "parallel": "parallels",
    "memory": "memories",
}


@dataclass
class Run:
    """One parallel run's timeline (offsets in seconds from the run's start)."""

    parallel: str
    run_id: int
    wall: float
    status: str
    speedup: float | None
    branches: list[tuple[str, float, float, str]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, parallel: str, d: dict[str, Any]) -> Run:
        branches = [
            (
                str(b.get("name")),
                float(b.get("start", 0.0)),
                float(b.get("end", 0.0)),
                str(b.get("status", "ok")),
            )
            for b in d.get("branches", [])
        ]
        return cls(
            parallel=parallel,
            run_id=int(d.get("run_id", 0)),
            wall=float(d.get("wall") or 0.0),
            status=str(d.get("status", "ok")),
            speedup=d.get("speedup"),
            branches=branches,
        )


@dataclass
class Point:
    """One history sample, taken at most once per ``PanelState.interval`` seconds."""

    t: float
    runs: int
    seq: int
    cache_counts: dict[str, tuple[int, int]]  # name -> (hits, misses)
    route_counts: dict[str, dict[str, int]]  # router -> route -> count


class PanelState:
    """Everything the panel knows about the engine it watches.

    ``version`` increases on every change, so a view can skip work when nothing changed
    since it last painted.
    """

    def __init__(
        self,
        *,
        socket: str = "",
        read_only: bool = False,
        embedded: bool = False,
        history: int = 240,
        interval: float = 1.0,
        event_capacity: int = 5000,
        runs_per_parallel: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: the wall clock cooldowns count down by (fixed in snapshot tests)."""
        self.socket = socket
        self.clock = clock
        self.read_only_flag = read_only
        self.embedded = embedded
        self.interval = interval
        self.version = 0
        self.snapshot: dict[str, Any] = {}
        self.conn = CONNECTING
        self.conn_detail = ""
        self.conn_changed = time.time()
        self.ever_connected = False
        self.last_data = 0.0  # wall time of the last update from the engine
        self.seq = 0
        self.audit_seq = -1  # seq of the newest ``audit`` event (a write) seen
        self.events: deque[list[Any]] = deque(maxlen=event_capacity)
        self.events_total = 0
        self.dropped_total = 0
        self.resyncs = 0
        self._ts_offset: float | None = None
        self._runs_cap = runs_per_parallel
        self.runs: dict[str, deque[Run]] = {}
        self._pending: dict[tuple[str, int], list[tuple[str, float, float, str]]] = {}
        self.points: deque[Point] = deque(maxlen=history)
        self.hit_history: dict[str, deque[float | None]] = {}
        self.rps_history: deque[float] = deque(maxlen=history)
        self.engine_key: tuple[Any, ...] | None = None  # identity of the engine shown
        self.restarts = 0
        # Rates need two stats frames: None (a dash) until then, not a 0 that reads as idle.
        self.rps: float | None = None
        self.eps: float | None = None
        # provider -> wall time its cooldown ends, from the last remaining time reported
        # (the engine's clock is monotonic and its own: only durations cross the wire).
        self.cooldown_until: dict[str, float] = {}

    # ---- connection ---------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.conn == CONNECTED

    @property
    def read_only(self) -> bool:
        """True when the panel was started read-only or the engine says it is."""
        eng = self.snapshot.get("engine") or {}
        return self.read_only_flag or bool(eng.get("read_only"))

    @property
    def has_data(self) -> bool:
        return bool(self.snapshot)

    def set_connection(self, conn: str, detail: str = "") -> None:
        """Record a connection state change (connecting / connected / disconnected)."""
        if conn != self.conn or detail != self.conn_detail:
            if conn != self.conn:
                self.conn_changed = time.time()
            self.conn = conn
            self.conn_detail = detail
            if conn == CONNECTED:
                self.ever_connected = True
            self.version += 1

    # ---- updates ------------------------------------------------------------------
    def apply(self, kind: str, data: Any) -> None:
        """Apply one update from the LiveClient (``Update(kind, data)``, shapes in client.py)."""
        if kind == "events":
            self.apply_events(data)
        elif kind == "stats":
            self.apply_stats(data)
        elif kind == "snapshot":
            self.apply_snapshot(data)
        elif kind == "dropped":
            self.apply_dropped(data)
        elif kind == "state":
            self.apply_state(data)

    def apply_state(self, data: dict[str, Any]) -> None:
        """A connection-state update: ``{connected, error, attempt, path}``."""
        conn = CONNECTED if data["connected"] else DISCONNECTED
        detail = str(data.get("error") or "")
        attempt = data.get("attempt")
        if attempt and conn != CONNECTED:
            detail = f"{detail} (attempt {attempt})".strip()
        self.set_connection(conn, detail)

    def apply_snapshot(self, snap: dict[str, Any]) -> None:
        """Replace the model with a full snapshot (first attach or a resync)."""
        if self.snapshot:
            self.resyncs += 1
        engine = engine_key(snap)
        if self.engine_key is not None and engine != self.engine_key:
            self._new_engine()
        self.engine_key = engine
        self.snapshot = copy.deepcopy(snap)
        self.seq = int(snap.get("seq") or 0)
        self._providers_arrived()
        self.last_data = time.time()
        if self.conn != CONNECTED:
            self.set_connection(CONNECTED)
        for name, par in (snap.get("parallels") or {}).items():
            ring = self._ring(name)
            known = {r.run_id for r in ring}
            for tl in par.get("timelines") or ():
                run = Run.from_dict(name, tl)
                if run.run_id not in known:
                    ring.append(run)
        self._sample(snap, force=True)
        self.version += 1

    def _new_engine(self) -> None:
        """Another engine (or a restart) on the socket: its run ids and counters start
        over, so the old runs, samples and rates go; the sparklines keep a break mark."""
        self.restarts += 1
        self.runs.clear()
        self._pending.clear()
        self.points.clear()
        self.rps = self.eps = None  # no rate across a restart
        self.rps_history.append(BREAK)
        for hist in self.hit_history.values():
            hist.append(BREAK)

    def apply_stats(self, stats: dict[str, Any]) -> None:
        """Merge a periodic ``stats`` aggregate into the snapshot."""
        snap = self.snapshot
        if not snap:
            return
        self.last_data = time.time()
        if self.conn != CONNECTED:
            self.set_connection(CONNECTED)
        eng = snap.setdefault("engine", {})
        if "uptime" in stats:
            eng["uptime"] = stats["uptime"]
        if "redis" in stats:
            eng["redis"] = stats["redis"]
        for key in ("workload", "providers", "budgets", "time"):
            if key in stats:
                snap[key] = stats[key]
        if "providers" in stats:
            self._providers_arrived()
        for group in ("caches", "routers", "parallels", "memories"):
            entries = snap.setdefault(group, {})
            for name, st in (stats.get(group) or {}).items():
                entry = entries.get(name)
                if entry is None:
                    entry = entries[name] = {"name": name, "kind": group[:-1]}
                entry["stats"] = st
        self._sample(stats)
        self.version += 1

    def apply_events(self, events: Iterable[list[Any]]) -> None:
        """Append a batch of events to the log and interpret the few that change config."""
        batch = events if isinstance(events, list) else list(events)
        if not batch:
            return
        self.events.extend(batch)
        self.events_total += len(batch)
        last = batch[-1]
        self.seq = max(self.seq, int(last[0]))
        if self._ts_offset is None:
            self._ts_offset = time.time() - float(last[1])
        interesting = _INTERESTING
        for ev in batch:
            if ev[2] in interesting:
                self._interpret(ev)
        self.last_data = time.time()
        self.version += 1

    def apply_dropped(self, data: dict[str, Any]) -> None:
        """The engine dropped events for this client (it resyncs with a snapshot)."""
        self.dropped_total += int(data.get("count") or 0)
        self.version += 1

    # ---- event interpretation -----------------------------------------------------
    def _interpret(self, raw: list[Any]) -> None:
        """Apply one config-changing event, decoded by field name (schema.EVENT_SPECS)."""
        if raw[2] == EventKind.AUDIT:  # noted even when the log has long rolled past it
            self.audit_seq = max(self.audit_seq, int(raw[0]))
            return
        ev = decode(raw)
        if ev is None:  # an arity this panel does not know: keep it in the log only
            return
        kind = ev.kind
        if kind == EventKind.PARALLEL_BRANCH:
            key = (ev.name, ev.run_id)
            pending = self._pending.get(key)
            if pending is None:
                if len(self._pending) > 1000:  # runs whose end event we never saw
                    self._pending.clear()
                pending = self._pending[key] = []
            pending.append((str(ev.branch), float(ev.start_s), float(ev.end_s), str(ev.status)))
        elif kind == EventKind.PARALLEL_RUN:
            branches = self._pending.pop((ev.name, ev.run_id), [])
            busy = sum(e - s for _, s, e, _ in branches)
            wall = float(ev.wall_s)
            # The engine's rule: a run with a cancelled branch has no speedup.
            finished = all(st != "cancelled" for _, _, _, st in branches)
            speedup = busy / wall if wall > 0 and finished else None
            self._ring(ev.name).append(
                Run(ev.name, int(ev.run_id), wall, str(ev.status), speedup, branches)
            )
        elif kind == EventKind.CACHE_CONFIG:
            entry = self.group("caches").get(ev.name)
            if entry is not None:
                entry["ttl"], entry["max_size"] = ev.ttl, ev.max_size
        elif kind == EventKind.CACHE_FLUSH:
            self._emptied("caches", ev.name)
        elif kind == EventKind.MEMORY_CLEAR:
            self._emptied("memories", ev.name)
        elif kind == EventKind.ROUTER_CONFIG:
            entry = self.group("routers").get(ev.name)
            if entry is not None:
                entry["pin"] = ev.pin
                if ev.route is not None and ev.providers is not None:
                    entry.setdefault("providers", {})[ev.route] = list(ev.providers)
        elif kind == EventKind.REDIS:
            redis = self.engine.get("redis")
            if isinstance(redis, dict):
                redis["up"] = ev.state == "up"
        elif kind == EventKind.ROUTER_WEIGHTS:
            entry = self.group("routers").get(ev.name)
            if entry is not None:
                entry["weights"] = ev.weights
                entry["targets"] = shares(ev.weights)
        elif kind == EventKind.PROVIDER_COOLDOWN:
            p = self.group("providers").get(ev.provider)
            if p is not None:
                p.update(state="cooling down", cooldown_reason=ev.reason)
                p["cooldown_remaining"] = float(ev.seconds)
                self.cooldown_until[ev.provider] = self.clock() + float(ev.seconds)
        elif kind == EventKind.PROVIDER_RESUME:
            p = self.group("providers").get(ev.provider)
            if p is not None:
                # Ending a cooldown resets the failure count (decisions.md): "ok" until
                # the next stats say otherwise.
                p.update(state="ok", cooldown_reason=None, consecutive_failures=0)
                p["cooldown_remaining"] = 0.0
                self.cooldown_until.pop(ev.provider, None)

    def _emptied(self, group: str, name: str) -> None:
        entries = self.group(group)
        for n in list(entries) if name == "*" else [name]:
            st = (entries.get(n) or {}).get("stats")
            if isinstance(st, dict):
                st["size"] = 0

    def apply_reply(self, method: str, result: Any) -> None:
        """Apply a write reply at once (it carries the primitive's describe() after the
        change), instead of waiting for the events and the next ``stats``."""
        if not isinstance(result, dict) or not self.snapshot:
            return
        group = _GROUP_OF_KIND.get(result.get("kind", ""))
        name = result.get("name")
        if method.startswith("provider.") and isinstance(name, str):
            group = "providers"  # a provider's health() (its kind is "openai", ...)
        if group is not None and isinstance(name, str):
            entry = {k: v for k, v in result.items() if k != "result"}
            self.snapshot.setdefault(group, {})[name] = entry
            if group == "providers":
                self._providers_arrived()
        for key, group in (("flushed", "caches"), ("cleared", "memories")):
            for n in result.get(key) or ():
                self._emptied(group, n)
        self.version += 1

    def _providers_arrived(self) -> None:
        """Turn each provider's reported ``cooldown_remaining`` into a local deadline, so
        the view counts down between two ``stats`` (and while they are late)."""
        now = self.clock()
        until = self.cooldown_until
        until.clear()
        for name, p in self.group("providers").items():
            left = p.get("cooldown_remaining")
            if isinstance(left, (int, float)) and left > 0:
                until[name] = now + float(left)

    def cooldown_left(self, provider: str) -> float:
        """Seconds of ``provider``'s cooldown left now (0.0: not cooling down)."""
        until = self.cooldown_until.get(provider)
        return 0.0 if until is None else max(0.0, until - self.clock())

    def _ring(self, name: str) -> deque[Run]:
        ring = self.runs.get(name)
        if ring is None:
            ring = self.runs[name] = deque(maxlen=self._runs_cap)
        return ring

    # ---- history ------------------------------------------------------------------
    def _sample(self, data: dict[str, Any], force: bool = False) -> None:
        """One history point from ``data`` (a snapshot or a stats frame: its time, seq and
        workload) and the counters now merged into the snapshot's entries."""
        now = float(data.get("time") or time.time())
        prev = self.points[-1] if self.points else None
        if prev is not None and not force and now - prev.t < self.interval:
            return
        snap = self.snapshot
        cache_counts = {}
        for name, c in (snap.get("caches") or {}).items():
            st = c.get("stats") or {}
            cache_counts[name] = (int(st.get("hits") or 0), int(st.get("misses") or 0))
        route_counts: dict[str, dict[str, int]] = {}
        for name, r in (snap.get("routers") or {}).items():
            st = r.get("stats") or {}
            route_counts[name] = {
                rt: int(v.get("count") or 0) for rt, v in (st.get("routes") or {}).items()
            }
        workload = data.get("workload") or {}
        point = Point(
            now,
            int(workload.get("runs") or 0),
            int(data.get("seq") or 0),
            cache_counts,
            route_counts,
        )
        if prev is not None and point.t > prev.t and not force:
            dt = point.t - prev.t
            self.rps = max(0, point.runs - prev.runs) / dt
            self.eps = max(0, point.seq - prev.seq) / dt
            self.rps_history.append(self.rps)
            for name, (hits, misses) in cache_counts.items():
                ph, pm = prev.cache_counts.get(name, (0, 0))
                dh, dm = hits - ph, misses - pm
                hist = self.hit_history.get(name)
                if hist is None:
                    hist = self.hit_history[name] = deque(maxlen=self.points.maxlen)
                if dh < 0 or dm < 0:  # counters reset (engine restarted)
                    hist.append(None)
                else:
                    hist.append(dh / (dh + dm) if dh + dm else None)
        elif force and prev is not None:
            # A snapshot after a gap: do not draw a rate across the gap.
            self.points.clear()
        self.points.append(point)

    # ---- derived views ------------------------------------------------------------
    def group(self, name: str) -> dict[str, dict[str, Any]]:
        """``caches`` / ``routers`` / ``parallels`` / ``memories`` / ``providers``."""
        return self.snapshot.get(name) or {}

    @property
    def engine(self) -> dict[str, Any]:
        return self.snapshot.get("engine") or {}

    @property
    def workload(self) -> dict[str, Any]:
        return self.snapshot.get("workload") or {}

    def hit_rates(self, name: str) -> list[float | None]:
        """Per-interval hit rate of a cache, oldest first (None = no traffic)."""
        return list(self.hit_history.get(name, ()))

    def recent_split(self, router: str, window: float = 5.0) -> dict[str, float] | None:
        """Share of each route over the last ``window`` seconds (None if no traffic)."""
        if len(self.points) < 2:
            return None
        last = self.points[-1]
        base = last
        for p in reversed(self.points):
            base = p
            if last.t - p.t >= window:
                break
        if base is last:
            return None
        now_counts = last.route_counts.get(router) or {}
        then_counts = base.route_counts.get(router) or {}
        deltas = {r: max(0, c - then_counts.get(r, 0)) for r, c in now_counts.items()}
        total = sum(deltas.values())
        if total <= 0:
            return None
        return {r: d / total for r, d in deltas.items()}

    def recent_runs(self, limit: int = 10, parallel: str | None = None) -> list[Run]:
        """The most recent parallel runs, newest first."""
        if parallel is not None:
            rings = [self.runs[parallel]] if parallel in self.runs else []
        else:
            rings = list(self.runs.values())
        merged = [r for ring in rings for r in list(ring)[-limit:]]
        merged.sort(key=lambda r: r.run_id, reverse=True)
        return merged[:limit]

    def event_time(self, ts: float) -> float:
        """Wall-clock time of an engine event timestamp (monotonic on the engine)."""
        return ts + (self._ts_offset or 0.0)

    def total_cost(self) -> float:
        return sum(float(p.get("cost") or 0.0) for p in self.group("providers").values())

    def export(self) -> dict[str, Any]:
        """The current snapshot (as merged from updates) for a JSON export."""
        return {
            "exported_at": time.time(),
            "socket": self.socket,
            "connection": self.conn,
            "seq": self.seq,
            "snapshot": self.snapshot,
            "recent_runs": [
                {
                    "parallel": r.parallel,
                    "run_id": r.run_id,
                    "wall": r.wall,
                    "status": r.status,
                    "speedup": r.speedup,
                    "branches": [
                        {"name": n, "start": s, "end": e, "status": st}
                        for n, s, e, st in r.branches
                    ],
                }
                for r in self.recent_runs(50)
            ],
        }


def shares(weights: dict[str, float] | None) -> dict[str, float] | None:
    """Route weights as shares of their sum (the engine's ``targets``); None: no weights."""
    if not weights:
        return None
    total = sum(float(w) for w in weights.values())
    return {r: float(w) / total for r, w in weights.items()} if total > 0 else None


def engine_key(snap: Any) -> tuple[Any, ...]:
    """Which engine process a snapshot comes from: its ``id``, else pid + start time."""
    eng = (snap.get("engine") if isinstance(snap, dict) else None) or {}
    if eng.get("id"):
        return ("id", eng["id"])
    return ("pid", eng.get("pid"), eng.get("started_at"))
