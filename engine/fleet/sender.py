"""Acknowledged fleet commands, the sender's side (``ctl --redis``, the panel).

:meth:`FleetSender.send` reads who is in the fleet (heartbeats), writes the override
first for a fleet-wide setting, publishes the command, then waits a bounded time for
one answer per engine on ``<fleet>:ack:<id>`` (BLPOP). The :class:`FleetReport` says
who applied it and names the rest: "applied on 3 of 4; host-b pid 812 did not answer".
A command that did not reach every engine is not ``ok``. The sender adds one audit
record with every engine's answer to the fleet stream.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
from redis.asyncio import Redis

from flowdeck.engine.control import methods as M
from flowdeck.engine.control import protocol as P
from flowdeck.engine.errors import BadParams
from flowdeck.engine.fleet import audit
from flowdeck.engine.fleet.commands import FLEET_COMMAND, OVERRIDE_DROP
from flowdeck.engine.fleet.overrides import pack_override, unpack_override
from flowdeck.engine.fleet.packing import unpack_map
from flowdeck.engine.fleet.reader import FleetEngine, FleetReader
from flowdeck.engine.fleet.scope import DEFAULT_FLEET, Scope
from flowdeck.engine.fleet.writes import FLEET_METHODS, STICKY, setting_key

DEFAULT_WAIT = 2.0
_LEAD_METHODS = frozenset({P.CACHE_FLUSH, P.CACHE_SET_TTL})


def sender_identity(client: str) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "uid": os.getuid(),
        "user": user,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "client": client,
    }


@dataclass
class FleetReport:
    """What every engine answered to one command."""

    command: str
    method: str
    params: dict[str, Any]
    expected: list[FleetEngine]
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    strays: list[dict[str, Any]] = field(default_factory=list)  # answers from unexpected ids

    @property
    def applied(self) -> list[str]:
        """Engines where the write worked: applied, or found nothing to change."""
        return [i for i, a in self.answers.items() if a.get("status") in P.WRITE_DONE]

    @property
    def missing(self) -> list[FleetEngine]:
        return [e for e in self.expected if e.id not in self.answers]

    @property
    def ok(self) -> bool:
        return bool(self.expected) and len(self.applied) == len(self.expected) and not self.missing

    def summary(self) -> str:
        if not self.expected:
            return "no engine in the fleet"
        parts = [f"applied on {len(self.applied)} of {len(self.expected)}"]
        same = sum(1 for a in self.answers.values() if a.get("status") == P.UNCHANGED)
        if same:
            parts[0] += f" ({same} already so: unchanged)"
        for e in self.expected:
            a = self.answers.get(e.id)
            if a is None:
                parts.append(f"{e.label} did not answer")
            elif a.get("status") not in P.WRITE_DONE:
                detail = f" ({a['detail']})" if a.get("detail") else ""
                parts.append(f"{e.label}: {a.get('status')}{detail}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        engines = []
        for e in self.expected:
            a = self.answers.get(e.id)
            engines.append(
                {
                    "id": e.id,
                    "name": e.name,
                    "host": e.host,
                    "pid": e.pid,
                    "status": a.get("status") if a else "no_answer",
                    "detail": a.get("detail") if a else None,
                    "before": a.get("before") if a else None,
                    "after": a.get("after") if a else None,
                }
            )
        return {
            "command": self.command,
            "method": self.method,
            "params": self.params,
            "ok": self.ok,
            "summary": self.summary(),
            "engines": engines,
        }


class FleetSender:
    """Sends acknowledged commands to one fleet (name + database) of a Redis server."""

    def __init__(self, client: Redis, scope: Scope, *, client_name: str = "ctl") -> None:
        self.client = client
        self.scope = scope
        self.sender = sender_identity(client_name)
        self.reader = FleetReader(client, scope.fleet, db=scope.db)

    @classmethod
    def from_url(
        cls, url: str, fleet: str = DEFAULT_FLEET, *, client_name: str = "ctl", wait: float = 5.0
    ) -> FleetSender:
        scope = Scope.of(fleet, url)
        # The socket timeout must outlast a BLPOP of the whole wait.
        client = Redis.from_url(url, socket_timeout=wait + 2, socket_connect_timeout=2.0)
        return cls(client, scope, client_name=client_name)

    async def close(self) -> None:
        await self.client.aclose()

    async def send(
        self,
        method: str,
        params: dict[str, Any],
        *,
        targets: list[str] | None = None,
        wait: float = DEFAULT_WAIT,
        sticky: bool = True,
    ) -> FleetReport:
        """Send ``method`` to the fleet (or to ``targets``) and collect the answers.

        A fleet-wide setting (``sticky`` and no targets) is also stored as an override
        first, so an engine that starts meanwhile gets it too.
        """
        if method not in FLEET_METHODS:
            raise BadParams(f"not a fleet method: {method!r} (fleet methods: {FLEET_METHODS})")
        try:
            args = M.validate(method, dict(params), lambda kind, name: True)
        except P.ControlError as err:
            raise BadParams(err.message) from None
        version = None
        if sticky and targets is None and method in STICKY:
            version = await self._store_override(method, args)
        if targets is None and method == P.ROUTER_RESTORE:
            await self._drop_remaps(args["name"], args["route"])
        return await self._publish(method, args, targets, wait, version)

    async def drop_override(self, key: str, *, wait: float = DEFAULT_WAIT) -> FleetReport:
        """Delete the override of setting ``key``; every engine returns to its config."""
        if not isinstance(key, str) or key.count(":") < 2:
            raise BadParams(f"not a setting name: {key!r} (e.g. cache:llm:ttl)")
        await self.client.hdel(self.scope.overrides, key)
        return await self._publish(OVERRIDE_DROP, {"key": key}, None, wait, None)

    async def overrides(self) -> dict[str, dict[str, Any]]:
        raw = await self.client.hgetall(self.scope.overrides)
        out = {}
        for k, v in raw.items():
            rec = unpack_override(v)
            if rec is not None:
                out[k.decode() if isinstance(k, bytes) else str(k)] = rec
        return out

    async def _drop_remaps(self, router: str, route: str | None) -> None:
        """A fleet-wide restore also ends the re-map overrides it undoes (so an engine
        starting later does not re-map again)."""
        prefix = f"router:{router}:model:"
        if route is not None:
            await self.client.hdel(self.scope.overrides, prefix + route)
            return
        keys = [
            k.decode() if isinstance(k, bytes) else str(k)
            for k in await self.client.hkeys(self.scope.overrides)
        ]
        stale = [k for k in keys if k.startswith(prefix)]
        if stale:
            await self.client.hdel(self.scope.overrides, *stale)

    async def _store_override(self, method: str, args: dict[str, Any]) -> int:
        version = int(await self.client.incr(self.scope.overrides_version))
        blob = pack_override(method, args, version, self.sender)
        await self.client.hset(self.scope.overrides, setting_key(method, args), blob)
        return version

    async def _publish(
        self,
        method: str,
        args: dict[str, Any],
        targets: list[str] | None,
        wait: float,
        version: int | None,
    ) -> FleetReport:
        engines = await self.reader.read()
        if targets is not None:
            wanted = set(targets)
            engines = [e for e in engines if e.id in wanted]
        cid = secrets.token_hex(8)
        lead = min((e.id for e in engines if not e.read_only), default=None)
        message = {
            "op": FLEET_COMMAND,
            "id": cid,
            "method": method,
            "params": args,
            "targets": targets,
            "sender": self.sender,
            "lead": lead if method in _LEAD_METHODS else None,
            "version": version,
        }
        report = FleetReport(cid, method, args, engines)
        if engines:
            await self.client.publish(
                self.scope.control_channel, msgpack.packb(message, use_bin_type=True)
            )
            await self._collect(report, wait)
        await self._audit(report)
        return report

    async def _collect(self, report: FleetReport, wait: float) -> None:
        key = self.scope.reply(report.command)
        expected = {e.id for e in report.expected}
        deadline = time.monotonic() + wait
        try:
            while expected - report.answers.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                got = await self.client.blpop([key], timeout=max(0.01, left))
                if got is None:
                    break
                # Whatever else has arrived meanwhile, in the same round trip count.
                rest = await self.client.lpop(key, len(expected)) or []
                for blob in (got[1], *rest):
                    self._take(report, expected, blob)
        finally:
            await self.client.delete(key)

    @staticmethod
    def _take(report: FleetReport, expected: set[str], blob: Any) -> None:
        answer = _decode_answer(blob)
        if answer is None or answer.get("command") != report.command:
            return
        eid = answer["engine"].get("id")
        if eid in expected:
            report.answers[eid] = answer
        else:
            report.strays.append(answer)

    async def _audit(self, report: FleetReport) -> None:
        rec = {
            "time": time.time(),
            "engine": None,
            "actor": self.sender,
            "scope": "fleet",
            "method": report.method,
            "params": report.params,
            "before": {i: a.get("before") for i, a in report.answers.items()},
            "after": {i: a.get("after") for i, a in report.answers.items()},
            "result": "applied" if report.ok else "partial",
            "detail": report.summary(),
            "command": report.command,
            "results": {e["id"]: e["status"] for e in report.to_json()["engines"]},
        }
        await audit.push(self.client, self.scope, rec)


def _decode_answer(blob: Any) -> dict[str, Any] | None:
    answer = unpack_map(blob)
    if answer is None or not isinstance(answer.get("engine"), dict):
        return None
    return answer
