"""The Fleet view's action gate: which totals row is highlighted, the confirmation that
says how many engines a write touches, and sending it (shared by every fleet action)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flowdeck.panel.modals.confirm import ConfirmModal

if TYPE_CHECKING:
    from flowdeck.panel.fleet.screen import FleetScreen

KINDS = {"cache": "caches", "router": "routers", "memory": "memories", "provider": "providers"}


class Target(Protocol):
    """One engine of the fleet as the actions see it (local or through Redis)."""

    @property
    def stats(self) -> dict[str, Any]: ...
    @property
    def read_only(self) -> bool: ...


@dataclass(frozen=True)
class Write:
    """One fleet write: what it is called, the method and params, the verb for toasts."""

    title: str
    method: str
    params: dict[str, Any]
    question: str  # "Set the TTL of cache 'llm' to 30s"


def how_many(targets: list[Any]) -> str:
    """ "on 3 engines (1 is read-only and will refuse)"."""
    n = len(targets)
    text = f"on {n} engine{'s' if n != 1 else ''}"
    ro = sum(1 for t in targets if t.read_only)
    if ro:
        text += f" ({ro} {'is' if ro == 1 else 'are'} read-only and will refuse)"
    return text


def routes_of(targets: list[Any], router: str) -> list[str]:
    """Every route name any target reports for ``router``, in the order the engines
    report them (their configured order, as the engine views list them: fast, balanced,
    quality, not alphabetically); a route only some engines have comes after."""
    names: dict[str, None] = {}
    for t in targets:
        r = (t.stats.get("routers") or {}).get(router) or {}
        names.update((str(k), None) for k in (r.get("routes") or {}))
    return list(names)


def providers_of(targets: list[Any]) -> list[str]:
    names: set[str] = set()
    for t in targets:
        names.update(str(k) for k in (t.stats.get("providers") or {}))
    return sorted(names)


class FleetGate:
    """The gate and the send of one FleetScreen's actions."""

    def __init__(self, screen: FleetScreen) -> None:
        self.screen = screen

    # ---- the gate ---------------------------------------------------------------------
    def _highlighted(self, what: str, kind: str) -> tuple[str, list[Any]] | None:
        """The name of the highlighted totals row of ``kind`` and its engines, else
        None having said why."""
        notify = self.screen.app.notify
        if self.screen.read_only:
            notify(f"{what}: unavailable — the panel is read-only.", severity="warning")
            return None
        row = self.screen.highlighted_total()
        if row is None:
            notify(f"{what}: no engine reports a {kind} yet.", severity="warning")
            return None
        row_kind, name = row
        if row_kind != kind:
            notify(
                f"{what}: highlight a {kind} in the totals table (now: {row_kind} {name!r}).",
                severity="warning",
            )
            return None
        targets = self.screen.feed.targets(KINDS[kind], name)
        if not targets:
            notify(f"{what}: no engine has {kind} {name!r} any more.", severity="warning")
            return None
        return name, targets

    def _confirm(self, write: Write, kind: str, name: str) -> None:
        """Ask, counting the engines that have ``kind`` ``name`` now (a dialog before may
        have taken a while), then send."""
        targets = self.screen.feed.targets(KINDS[kind], name)

        def done(yes: bool | None) -> None:
            if yes:
                self.screen.run_worker(self._send(write, KINDS[kind], name), group="fleet-action")

        self.screen.app.push_screen(
            ConfirmModal(write.title, f"{write.question} {how_many(targets)}?", write.title),
            done,
        )

    async def _send(self, write: Write, kind: str, name: str) -> None:
        done = await self.screen.feed.apply(write.method, write.params, kind, name)
        self.screen.app.notify(
            done.text,
            title=write.title,
            severity="information" if done.ok else "warning",
            timeout=10,
        )
