"""One engine's part in the fleet: setting sources, audit, and with Redis heartbeats,
fleet commands and overrides.

The engine owns one :class:`FleetAgent` from construction (sources and the audit work
without Redis too); :meth:`FleetAgent.start` joins the fleet once the Redis link exists:
it loads the overrides (before the engine reports ready), starts the heartbeat and
listens for fleet commands; whenever Redis comes back it loads the overrides again.
"""

from __future__ import annotations

import inspect
from typing import Any

from flowdeck.engine.control import protocol as P
from flowdeck.engine.fleet.audit import AuditLog
from flowdeck.engine.fleet.commands import CommandHandler
from flowdeck.engine.fleet.heartbeat import Heartbeat
from flowdeck.engine.fleet.overrides import MAX_OVERRIDES, SettingBook, unpack_override
from flowdeck.engine.fleet.writes import outcome, value_of
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable


class FleetAgent:
    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.book = SettingBook(engine)
        ident = {"id": engine.id, "name": engine.name, "host": engine.host, "pid": engine.pid}
        self.audit = AuditLog(engine.bus, ident)
        self.heartbeat: Heartbeat | None = None
        self.commands: CommandHandler | None = None
        self.override_errors = 0
        self._link: RedisLink | None = None
        self._removers: list[Any] = []

    async def start(self, link: RedisLink) -> None:
        eng = self.engine
        self._link = link
        self.audit.link, self.audit.scope = link, eng.scope
        self.commands = CommandHandler(eng, link, eng.scope, self.book, self.audit)
        self._removers.append(link.on_control(self.commands.on_control))
        self._removers.append(link.on_up(self.load_overrides))
        if link.up:
            await self.load_overrides()
        self.heartbeat = Heartbeat(eng, link, eng.scope, eng.settings.fleet_interval)
        self.heartbeat.start()

    async def close(self) -> None:
        for remove in self._removers:
            remove()
        self._removers.clear()
        if self.heartbeat is not None:
            await self.heartbeat.leave()

    # ---- overrides -------------------------------------------------------------------
    async def load_overrides(self) -> int:
        """Read the fleet's overrides and apply what is new (0 when Redis is down)."""
        link = self._link
        if link is None:
            return 0
        where = self.engine.scope.overrides

        async def read(client: Any) -> dict[Any, Any] | None:
            if await client.hlen(where) > MAX_OVERRIDES:
                return None
            result: dict[Any, Any] = await client.hgetall(where)
            return result

        try:
            raw = await link.run(read)
        except RedisUnavailable:
            self.override_errors += 1
            return 0
        if raw is None:
            self.override_errors += 1
            return 0
        records = {}
        for k, v in raw.items():
            rec = unpack_override(v)
            if rec is not None:
                records[k.decode() if isinstance(k, bytes) else str(k)] = rec
        return self.book.load(records)

    def registered(self, prim: Any) -> None:
        self.book.registered(prim)

    # ---- socket writes ---------------------------------------------------------------
    def socket_write(
        self, method: str, args: dict[str, Any], actor: dict[str, Any], call: Any
    ) -> Any:
        """Run a validated socket write (``call()``), marking its setting as ``runtime``
        and recording it in the audit, whether it returns now or later."""
        before = value_of(self.engine, method, args)
        try:
            result = call()
        except P.ControlError as err:
            self._socket_record(method, args, actor, before, None, err)
            raise
        if inspect.isawaitable(result):
            return self._finish(method, args, actor, before, result)
        self._socket_record(method, args, actor, before, result, None)
        return result

    async def _finish(
        self, method: str, args: dict[str, Any], actor: dict[str, Any], before: Any, aw: Any
    ) -> Any:
        try:
            result = await aw
        except Exception as exc:
            self._socket_record(method, args, actor, before, None, exc)
            raise
        self._socket_record(method, args, actor, before, result, None)
        return result

    def _socket_record(
        self,
        method: str,
        args: dict[str, Any],
        actor: dict[str, Any],
        before: Any,
        result: Any,
        exc: BaseException | None,
    ) -> None:
        after = value_of(self.engine, method, args) if exc is None else None
        if exc is None:
            status, detail = outcome(method, before, after), None
            if status == P.APPLIED:  # a write that changed nothing leaves the source as it was
                self.book.mark(method, args, "runtime")
                if isinstance(result, dict) and isinstance(result.get("sources"), dict):
                    # the reply was described before this mark: say the new source
                    kind = method.split(".", 1)[0]
                    result["sources"] = self.book.sources_of(kind, args["name"])
        else:
            code = getattr(exc, "code", None)
            status = "not_found" if code == P.NOT_FOUND else "error"
            detail = str(exc)
        self.audit.record(
            actor=actor,
            scope="socket",
            method=method,
            params=args,
            before=before,
            after=after,
            result=status,
            detail=detail,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "fleet": self.engine.scope.fleet,
            "db": self.engine.scope.db,
            "heartbeat": self.heartbeat.describe() if self.heartbeat is not None else None,
            "commands": self.commands.describe() if self.commands is not None else None,
            "refused": self._link.refused if self._link is not None else 0,
            "overrides": {
                "active": len(self.book.overrides),
                "applied": self.book.applied,
                "rejected": self.book.rejected,
                "errors": self.override_errors,
            },
            "audit": self.audit.describe(),
        }
