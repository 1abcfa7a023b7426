"""The Fleet view's provider levers: end a cooldown, drain, on every engine that has the
provider (picked from the fleet's providers, those cooling down first)."""

from __future__ import annotations

from typing import Any

from flowdeck.engine.control import protocol as P
from flowdeck.panel import fmt
from flowdeck.panel.fleet.gate import FleetGate, Write, how_many, providers_of
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from flowdeck.panel.validate import parse_duration


def cooling_on(targets: list[Any], provider: str) -> int:
    """How many of ``targets`` report ``provider`` cooling down."""
    return sum(
        1
        for t in targets
        if ((t.stats.get("providers") or {}).get(provider) or {}).get("state") == "cooling down"
    )


def provider_choices(members: list[Any], cooling_only: bool = False) -> list[tuple[str, str]]:
    """(name, label) of every provider of the fleet (``cooling_only``: of those cooling
    down somewhere), those cooling down first and saying on how many engines
    ("sim-gamma — cooling down on 2 of 3")."""
    rows = []
    for name in providers_of(members):
        having = [m for m in members if name in (m.stats.get("providers") or {})]
        cool = cooling_on(having, name)
        if cooling_only and not cool:
            continue
        label = f"{name} — cooling down on {cool} of {len(having)}" if cool else name
        rows.append((not cool, name, label))
    return [(name, label) for _, name, label in sorted(rows)]


class ProviderLevers(FleetGate):
    """``u`` / ``d`` of the Fleet view."""

    # ---- providers --------------------------------------------------------------------
    def _provider(self, what: str, cooling_only: bool = False) -> list[tuple[str, str]] | None:
        notify = self.screen.app.notify
        if self.screen.read_only:
            notify(f"{what}: unavailable — the panel is read-only.", severity="warning")
            return None
        members = list(self.screen.feed.members.values())
        if not provider_choices(members):
            notify(f"{what}: no engine reports a provider yet.", severity="warning")
            return None
        choices = provider_choices(members, cooling_only)
        if not choices:
            notify(f"{what}: no provider is cooling down on any engine.")
            return None
        return choices

    def resume_provider(self) -> None:
        choices = self._provider("End cooldown", cooling_only=True)
        if choices is not None:
            self.screen.run_worker(self._resume(choices), group="fleet-dialogs", exclusive=True)

    async def _resume(self, choices: list[tuple[str, str]]) -> None:
        name = await self.screen.app.push_screen_wait(
            PickModal(
                "End a provider's cooldown on every engine",
                "Its failure counts are reset and it gets traffic at once.",
                choices,
                choices[0][0],
            )
        )
        if name is None:
            return
        write = Write("End cooldown", P.PROVIDER_RESUME, {"name": name},
                      f"End the cooldown of provider {name!r}")  # fmt: skip
        self._confirm(write, "provider", name)

    def drain_provider(self) -> None:
        choices = self._provider("Drain")
        if choices is not None:
            self.screen.run_worker(self._drain(choices), group="fleet-dialogs", exclusive=True)

    async def _drain(self, choices: list[tuple[str, str]]) -> None:
        app = self.screen.app
        name = await app.push_screen_wait(
            PickModal(
                "Drain a provider on every engine",
                "Routers send its tiers' traffic to their next provider while it rests; "
                "calls made to it directly (a Parallel's branches) still reach it.",
                choices,
                next((n for n, label in choices if "cooling" not in label), choices[0][0]),
            )
        )
        if name is None:
            return
        having = [
            m for m in self.screen.feed.members.values() if name in (m.stats.get("providers") or {})
        ]
        seconds = await app.push_screen_wait(
            NumberModal(
                f"Drain provider {name!r} {how_many(having)}",
                "How long it rests: seconds, or with s / m / h / d (300, 5m, 1h); u ends it early.",
                parse_duration,
                "5m",
            )
        )
        if seconds is None:
            return
        write = Write("Drain", P.PROVIDER_COOLDOWN, {"name": name, "seconds": seconds},
                      f"Drain provider {name!r} for {fmt.countdown(seconds)}")  # fmt: skip
        self._confirm(write, "provider", name)
