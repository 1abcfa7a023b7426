"""Acknowledged fleet commands, the engine's side: apply, answer, audit.

A command is a msgpack map on the fleet's control channel::

    {"op": "fleet.command", "id": "<hex>", "method": "cache.set_ttl",
     "params": {"name": "llm", "ttl": 30}, "targets": null | ["<engine id>", ...],
     "sender": {"uid", "user", "host", "pid", "client"}, "lead": "<engine id>" | null,
     "version": <override version> | null}

Every engine it reaches (all of the fleet, or the ``targets``) pushes one answer to the
list ``<fleet>:ack:<id>`` (expiring after :data:`REPLY_TTL` s)::

    {"command", "engine": {"id", "name", "host", "pid"}, "status", "detail", "before", "after"}

with ``status`` one of ``applied`` / ``not_found`` (no primitive of that name here) /
``read_only`` (changes nothing) / ``error``. ``lead`` names the one engine that also
does the shared L2 part of a flush or TTL change. Each engine validates the command
itself: a malformed one is dropped and counted in ``rejected``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgpack

from flowdeck.engine.control import methods as M
from flowdeck.engine.control import protocol as P
from flowdeck.engine.fleet.audit import AuditLog, bounded
from flowdeck.engine.fleet.overrides import SettingBook
from flowdeck.engine.fleet.scope import Scope
from flowdeck.engine.fleet.writes import (
    FLEET_METHODS,
    STICKY,
    apply_local,
    exists_in,
    outcome,
    setting_key,
    value_of,
)
from flowdeck.engine.stores.redis_link import RedisLink, RedisUnavailable

FLEET_COMMAND = "fleet.command"
OVERRIDE_DROP = "override.drop"  # params {"key": "<setting>"}: back to config
REPLY_TTL = 30
MAX_TARGETS = 1000
_HEX_ID = re.compile(r"[0-9a-f]{1,64}")
APPLIED, NOT_FOUND, READ_ONLY, ERROR = P.APPLIED, P.NOT_FOUND, P.READ_ONLY, "error"


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    method: str
    params: dict[str, Any]
    targets: frozenset[str] | None
    sender: dict[str, Any]
    lead: str | None
    version: int | None


def parse_command(msg: dict[str, Any]) -> Command | None:
    """The command in a control message, or None if it is not a well-formed one."""
    cid, method, params = msg.get("id"), msg.get("method"), msg.get("params")
    if not isinstance(cid, str) or _HEX_ID.fullmatch(cid) is None:
        return None
    if method not in FLEET_METHODS and method != OVERRIDE_DROP:
        return None
    if not isinstance(params, dict) or len(params) > 16:
        return None
    raw_targets = msg.get("targets")
    targets: frozenset[str] | None = None
    if raw_targets is not None:
        if not isinstance(raw_targets, list) or len(raw_targets) > MAX_TARGETS:
            return None
        if not all(isinstance(t, str) and _HEX_ID.fullmatch(t) for t in raw_targets):
            return None
        targets = frozenset(raw_targets)
    sender = msg.get("sender")
    if not isinstance(sender, dict):
        sender = {}
    sender = {k: bounded(sender.get(k)) for k in ("uid", "user", "host", "pid", "client")}
    lead = msg.get("lead") if isinstance(msg.get("lead"), str) else None
    version = msg.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        version = None
    return Command(cid, method, params, targets, sender, lead, version)


class CommandHandler:
    """Takes fleet commands off the control channel for one engine."""

    def __init__(
        self, engine: Any, link: RedisLink, scope: Scope, book: SettingBook, audit: AuditLog
    ) -> None:
        self.engine = engine
        self.link = link
        self.scope = scope
        self.book = book
        self.audit = audit
        self.received = 0
        self.rejected = 0
        self.answer_errors = 0

    def on_control(self, msg: dict[str, Any]) -> None:
        if msg.get("op") != FLEET_COMMAND:
            return
        cmd = parse_command(msg)
        if cmd is None:
            self.rejected += 1
            return
        if cmd.targets is not None and self.engine.id not in cmd.targets:
            return
        self.received += 1
        self.link.spawn(self.handle(cmd))

    async def handle(self, cmd: Command) -> dict[str, Any]:
        """Apply ``cmd`` here, audit it and push the answer."""
        eng = self.engine
        before = after = None
        status, detail = APPLIED, None
        if eng.read_only:
            status, detail = READ_ONLY, "the engine is read-only: nothing changed"
        elif cmd.method == OVERRIDE_DROP:
            key = cmd.params.get("key")
            before = self.book.source.get(key) if isinstance(key, str) else None
            if not isinstance(key, str) or not self.book.drop(key):
                status, detail = NOT_FOUND, f"no setting {key!r} here"
            else:
                after = "config"
        else:
            status, detail, before, after = await self._apply(cmd)
        self.audit.record(
            actor=cmd.sender,
            scope="fleet",
            method=cmd.method,
            params=cmd.params,
            before=before,
            after=after,
            result=status,
            detail=detail,
            command=cmd.id,
        )
        answer = {
            "command": cmd.id,
            "engine": {"id": eng.id, "name": eng.name, "host": eng.host, "pid": eng.pid},
            "status": status,
            "detail": detail,
            "before": bounded(before),
            "after": bounded(after),
        }
        await self._answer(cmd.id, answer)
        return answer

    async def _apply(self, cmd: Command) -> tuple[str, str | None, Any, Any]:
        eng = self.engine
        try:
            args = M.validate(cmd.method, dict(cmd.params), exists_in(eng))
        except P.ControlError as err:
            return (NOT_FOUND if err.code == P.NOT_FOUND else ERROR), err.message, None, None
        before = value_of(eng, cmd.method, args)
        try:
            after = await apply_local(eng, cmd.method, args, lead=cmd.lead == eng.id)
        except Exception as exc:
            return ERROR, f"{type(exc).__name__}: {exc}"[:300], before, None
        if cmd.method == P.ROUTER_RESTORE:
            self.book.mark(cmd.method, args, "config")
        if cmd.method in STICKY:
            fleet_wide = cmd.targets is None and cmd.version is not None
            self.book.mark(cmd.method, args, "fleet" if fleet_wide else "runtime")
            if fleet_wide:
                assert cmd.version is not None
                self.book.versions[setting_key(cmd.method, args)] = cmd.version
        return outcome(cmd.method, before, after), None, before, after

    async def _answer(self, cid: str, answer: dict[str, Any]) -> None:
        key = self.scope.reply(cid)
        blob = msgpack.packb(answer, use_bin_type=True, default=repr)

        async def push(client: Any) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.rpush(key, blob)
            pipe.expire(key, REPLY_TTL)
            await pipe.execute()

        try:
            await self.link.run(push)
        except RedisUnavailable:
            self.answer_errors += 1

    def describe(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "rejected": self.rejected,
            "answer_errors": self.answer_errors,
        }
