"""RedisFleetFeed: every engine of one fleet, on every host, read from its heartbeats.

``panel --redis URL`` uses this instead of :class:`FleetFeed`: one refresh is the
FleetReader's two bounded calls (ZREVRANGE + MGET) every second. A row's age is the
age of its last beat (amber after 1.5 intervals, red when the reader calls it stale);
an engine whose key expired leaves. Writes go through acknowledged fleet commands
(``engine.fleet.sender``) and report per engine. Drilling in: an engine whose socket
answers here with the same id is attached to; any other is shown from its heartbeat.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flowdeck.engine.control import discovery as D
from flowdeck.engine.control import protocol as P
from flowdeck.engine.fleet.reader import FleetEngine, FleetReader
from flowdeck.engine.fleet.sender import DEFAULT_WAIT, FleetSender
from flowdeck.engine.redact import mask_url
from flowdeck.panel.fleet.feed import SINGULAR, Outcome, targets_of, totals_of
from flowdeck.panel.fleet.rescan import Rescanning

LATE_INTERVALS = 1.5
"""A beat older than this many of its engine's intervals (plus READ_SLACK) shows amber."""
READ_SLACK = Rescanning.rescan
"""The feed reads the beats once a rescan and a row is aged when it is painted, so a
healthy engine's beat is up to an interval plus a rescan old when seen: without this
slack a normal 1 s beat showed "1s late" half the time (QA)."""


@dataclass
class RemoteMember:
    """One engine as its latest heartbeat describes it."""

    engine: FleetEngine
    local: Path | None = None  # its socket, once it answered here with the same id

    @property
    def stats(self) -> dict[str, Any]:
        return self.engine.stats

    @property
    def read_only(self) -> bool:
        return self.engine.read_only

    @property
    def label(self) -> str:
        return self.engine.label

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.engine.seen)

    def level(self, now: float | None = None) -> str:
        age, every = self.age(now), self.engine.interval
        if age > every * 2.5 + READ_SLACK:  # the reader's own stale has no slack either
            return "stale"
        return "late" if age > every * LATE_INTERVALS + READ_SLACK else "ok"

    def row(self, now: float | None = None) -> dict[str, Any]:
        e, st = self.engine, self.engine.stats
        c = st.get("_counters") or {}
        looked = c.get("hits", 0) + c.get("misses", 0)
        redis = st.get("redis")
        return {
            "name": e.name,
            "read_only": e.read_only,
            "host": e.host,
            "pid": e.pid,
            "id": e.id,
            "uptime": max(0.0, (time.time() if now is None else now) - e.started_at),
            "rate": e.rates.get("runs"),
            "hit_rate": c.get("hits", 0) / looked if looked else None,
            "errors": int(c.get("errors", 0)),
            "redis": None if not isinstance(redis, dict) else bool(redis.get("up")),
            "age": self.age(now),
            "level": self.level(now),
        }


class RedisFleetFeed(Rescanning):
    """The fleet ``fleet`` on the Redis at ``url``, kept current (same face as FleetFeed)."""

    task_name = "redis-fleet"

    def __init__(
        self,
        url: str,
        fleet: str,
        *,
        wait: float = DEFAULT_WAIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: wall time the ages are measured against (fixed in snapshot tests)."""
        super().__init__()
        self.url = url
        self.clock = clock
        self.fleet = fleet
        self.wait = wait
        self.reader = FleetReader.from_url(url, fleet)
        self.sender = FleetSender.from_url(url, fleet, client_name="panel", wait=wait)
        self.members: dict[str, RemoteMember] = {}

    @staticmethod
    def check(url: str, fleet: str) -> str | None:
        """Why ``url`` / ``fleet`` cannot name a fleet (None: they can); connects nowhere."""
        if len(url) > 2048:
            return "--redis: the URL is longer than 2048 characters"
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            return f"--redis: {mask_url(url)[:80]!r} is not a redis://, rediss:// or unix:// URL"
        try:
            FleetReader.from_url(url, fleet)
        except ValueError as exc:
            return f"--redis / --fleet: {exc}"
        return None

    @property
    def where(self) -> str:
        return f"{self.fleet} on {mask_url(self.url)}"

    async def stop(self) -> None:
        await super().stop()
        for closing in (self.reader.close(), self.sender.close()):
            with contextlib.suppress(Exception):
                await closing

    def ordered(self) -> list[RemoteMember]:
        return sorted(
            self.members.values(), key=lambda m: (m.engine.host, m.engine.name, m.engine.pid)
        )

    def now(self) -> float:
        return self.clock()

    def rows(self) -> list[dict[str, Any]]:
        """The engines with a heartbeat, then those whose heartbeat expired lately."""
        now = self.clock()
        return [m.row(now) for m in self.ordered()] + self.departed_rows(now)

    def totals(self) -> dict[str, dict[str, dict[str, Any]]]:
        return totals_of(self.ordered())  # type: ignore[arg-type]  # reads .stats only

    def hosts(self) -> int:
        return len({m.engine.host for m in self.members.values()})

    def targets(self, kind: str, name: str) -> list[RemoteMember]:
        return targets_of(self.ordered(), kind, name)

    async def refresh(self) -> bool:
        """One read of the heartbeats: new engines appear, expired ones leave."""
        try:
            engines = await self.reader.read()
            self.error = None
        except Exception as exc:  # Redis down or refusing: say so, keep the last rows
            self.error = f"Redis {mask_url(self.url)}: {type(exc).__name__}: {exc}"[:200]
            return False
        seen = {e.id for e in engines}
        for gone in [i for i in self.members if i not in seen]:
            self.depart(gone, self.members.pop(gone).row(self.clock()))
        for e in engines:
            m = self.members.get(e.id)
            if m is None:
                self.members[e.id] = RemoteMember(e)
                self.arrive(e.id)
            else:
                m.engine = e
        return True

    async def local_socket(self, m: RemoteMember) -> Path | None:
        """The engine's socket if it answers here with the engine's id (same host)."""
        if not m.engine.socket:
            return None
        path = Path(m.engine.socket)
        hello = await D.probe_hello(path)
        if hello is not None and hello.get("id") == m.engine.id:
            m.local = path
            return path
        return None

    async def apply(self, method: str, params: dict[str, Any], kind: str, name: str) -> Outcome:
        """An acknowledged fleet command; counted over the engines that have the
        primitive (a fleet-wide setting also sticks as an override)."""
        having = {m.engine.id for m in self.targets(kind, name)}
        if not having:
            what = SINGULAR.get(kind, kind)
            return Outcome(0, 0, nothing=f"no engine in the fleet has {what} {name!r}")
        try:
            report = await self.sender.send(method, params, wait=self.wait)
        except Exception as exc:
            return Outcome(0, len(having), (f"not sent: {type(exc).__name__}: {exc}"[:200],))
        return outcome_of(report.to_json(), having)

    async def drop_override(self, key: str) -> Outcome:
        try:
            report = await self.sender.drop_override(key, wait=self.wait)
        except Exception as exc:
            return Outcome(0, 0, nothing=f"not sent: {type(exc).__name__}: {exc}"[:200])
        return outcome_of(report.to_json(), None)

    async def overrides(self) -> dict[str, dict[str, Any]]:
        return await self.sender.overrides()


def outcome_of(report: dict[str, Any], having: set[str] | None) -> Outcome:
    """A fleet report as an Outcome over the engines in ``having`` (None: all), plus
    any other engine that applied it; the rest named by host and pid."""
    applied, total, failures = 0, 0, []
    for e in report.get("engines") or []:
        status = e.get("status")
        if having is not None and e.get("id") not in having and status not in P.WRITE_DONE:
            continue  # an engine without the primitive answers not_found: not a target
        total += 1
        if status in P.WRITE_DONE:
            applied += 1
            continue
        who = f"{e.get('host')} pid {e.get('pid')}"
        if status == "no_answer":
            failures.append(f"{who} did not answer")
        else:
            detail = f" ({e['detail']})" if e.get("detail") and status != "read_only" else ""
            failures.append(f"{who}: {status}{detail}")
    if total == 0:
        return Outcome(0, 0, nothing="no engine in the fleet answered")
    return Outcome(applied, total, tuple(failures))
