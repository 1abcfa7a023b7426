"""The Fleet view's actions: one write sent to every engine that has the primitive.

Each action is: the highlighted totals row names the primitive (cache, router or
memory), or a picker names the provider (end a cooldown, drain); a dialog asks for the
value when there is one (TTL, size, route, provider, weights, duration);
a confirmation says how many engines it will touch (and how many of them are
read-only, so will refuse); then the feed sends it and one toast names every engine
that refused or failed ("applied on 2 of 3; pid 4712: read_only").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flowdeck.engine.control import protocol as P
from flowdeck.panel import fmt
from flowdeck.panel.modals.confirm import ConfirmModal
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from flowdeck.panel.validate import parse_duration, parse_size, parse_ttl, parse_weights

if TYPE_CHECKING:
    from flowdeck.panel.fleet.screen import FleetScreen

AUTO = "\x00auto"  # the "auto" choice of the pin picker (never a route name)
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
    """Every route name any target reports for ``router`` (sorted)."""
    names: set[str] = set()
    for t in targets:
        r = (t.stats.get("routers") or {}).get(router) or {}
        names.update(str(k) for k in (r.get("routes") or {}))
    return sorted(names)


def providers_of(targets: list[Any]) -> list[str]:
    names: set[str] = set()
    for t in targets:
        names.update(str(k) for k in (t.stats.get("providers") or {}))
    return sorted(names)


def cooling_on(targets: list[Any], provider: str) -> int:
    """How many of ``targets`` report ``provider`` cooling down."""
    return sum(
        1
        for t in targets
        if ((t.stats.get("providers") or {}).get(provider) or {}).get("state") == "cooling down"
    )


def provider_choices(members: list[Any]) -> list[tuple[str, str]]:
    """(name, label) of every provider of the fleet, those cooling down first and saying
    on how many engines ("sim-gamma — cooling down on 2 of 3")."""
    rows = []
    for name in providers_of(members):
        having = [m for m in members if name in (m.stats.get("providers") or {})]
        cool = cooling_on(having, name)
        label = f"{name} — cooling down on {cool} of {len(having)}" if cool else name
        rows.append((not cool, name, label))
    return [(name, label) for _, name, label in sorted(rows)]


class FleetActions:
    """The dialogs and sends of one FleetScreen."""

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

    def _confirm(self, write: Write, kind: str, name: str, targets: list[Any]) -> None:
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

    # ---- caches -----------------------------------------------------------------------
    def flush(self) -> None:
        got = self._highlighted("Flush", "cache")
        if got is not None:
            name, targets = got
            q = f"Flush cache {name!r} (L1, and L2 once)"
            self._confirm(Write("Flush", P.CACHE_FLUSH, {"name": name}, q), "cache", name, targets)

    def set_ttl(self) -> None:
        self._ask_number(
            "Set TTL",
            "ttl",
            P.CACHE_SET_TTL,
            parse_ttl,
            "Seconds, e.g. 120 or 1.5. Applies to entries already stored.",
            lambda name, v: f"Set the TTL of cache {name!r} to {fmt.ttl(v)}",
        )

    def set_size(self) -> None:
        self._ask_number(
            "Set max size",
            "max_size",
            P.CACHE_SET_MAX_SIZE,
            parse_size,
            "A whole number of entries > 0. Shrinking evicts the least recently used.",
            lambda name, v: f"Set the max size of cache {name!r} to {v:,} entries",
        )

    def _ask_number(
        self,
        what: str,
        field: str,
        method: str,
        parse: Callable[[str], Any],
        help_text: str,
        question: Callable[[str, Any], str],
    ) -> None:
        got = self._highlighted(what, "cache")
        if got is None:
            return
        name, targets = got

        def done(value: Any) -> None:
            if value is not None:
                write = Write(what, method, {"name": name, field: value}, question(name, value))
                self._confirm(write, "cache", name, self.screen.feed.targets("caches", name))

        self.screen.app.push_screen(
            NumberModal(f"{what} of cache {name!r} {how_many(targets)}", help_text, parse), done
        )

    # ---- routers ----------------------------------------------------------------------
    def pin(self) -> None:
        got = self._highlighted("Pin", "router")
        if got is None:
            return
        name, targets = got
        options = [(AUTO, "auto — let the selector choose (unpin)")]
        options += [(r, r) for r in routes_of(targets, name)]

        def done(choice: str | None) -> None:
            if choice is not None:
                self._pin(name, None if choice == AUTO else choice, targets)

        self.screen.app.push_screen(
            PickModal(
                f"Pin router {name!r} {how_many(targets)}",
                "Every request goes to the pinned route.",
                options,
                AUTO,
            ),
            done,
        )

    def unpin(self) -> None:
        got = self._highlighted("Auto", "router")
        if got is not None:
            self._pin(got[0], None, got[1])

    def _pin(self, name: str, route: str | None, targets: list[Any]) -> None:
        if route is None:
            write = Write("Auto", P.ROUTER_PIN, {"name": name, "route": None},
                          f"Unpin router {name!r} (back to its selector)")  # fmt: skip
        else:
            write = Write("Pin", P.ROUTER_PIN, {"name": name, "route": route},
                          f"Pin router {name!r} to route {route!r}")  # fmt: skip
        self._confirm(write, "router", name, targets)

    def remap(self) -> None:
        got = self._highlighted("Re-map", "router")
        if got is None:
            return
        name, targets = got
        self.screen.run_worker(self._remap(name, targets), group="fleet-dialogs", exclusive=True)

    async def _remap(self, name: str, targets: list[Any]) -> None:
        app = self.screen.app
        routes, providers = routes_of(targets, name), providers_of(targets)
        if not routes or not providers:
            text = f"Re-map: router {name!r} reports no routes or providers."
            app.notify(text, severity="warning")
            return
        route = await app.push_screen_wait(
            PickModal(
                f"Re-map a route of {name!r} {how_many(targets)}",
                "Pick the route (tier) whose provider you want to change.",
                [(r, r) for r in routes],
                routes[0],
            )
        )
        if route is None:
            return
        provider = await app.push_screen_wait(
            PickModal(
                f"Re-map {name}/{route} to a provider",
                "The chosen provider goes first; the current ones stay as fallback. An engine"
                " where the route has no providers refuses.",
                [(p, p) for p in providers],
                providers[0],
            )
        )
        if provider is None:
            return
        write = Write(
            "Re-map",
            P.ROUTER_SET_MODEL,
            {"name": name, "route": route, "provider": provider},
            f"Put provider {provider!r} first for {name}/{route}",
        )
        self._confirm(write, "router", name, self.screen.feed.targets("routers", name))

    def set_weights(self) -> None:
        got = self._highlighted("Weights", "router")
        if got is None:
            return
        name, targets = got
        routes = routes_of(targets, name)

        def parse(text: str) -> dict[str, Any]:
            return {"weights": parse_weights(text, routes)}

        def done(value: dict[str, Any] | None) -> None:
            if value is None:
                return
            weights = value["weights"]
            what = (
                " ".join(f"{k}={v:g}" for k, v in weights.items())
                if weights
                else "the configured weights"
            )
            write = Write(
                "Weights",
                P.ROUTER_SET_WEIGHTS,
                {"name": name, "weights": weights},
                f"Split router {name!r} by {what}",
            )
            self._confirm(write, "router", name, self.screen.feed.targets("routers", name))

        self.screen.app.push_screen(
            NumberModal(
                f"Route weights of {name!r} {how_many(targets)}",
                f"route=weight for routes of {', '.join(routes) or name}; a route left out or"
                " at 0 is drained but still a fallback; 'none' goes back to the configured.",
                parse,
            ),
            done,
        )

    def restore(self) -> None:
        got = self._highlighted("Restore", "router")
        if got is None:
            return
        name, targets = got
        every = "\x00every"
        options = [(every, "every route")] + [(r, r) for r in routes_of(targets, name)]

        def done(choice: str | None) -> None:
            if choice is None:
                return
            route = None if choice == every else choice
            what = "every route" if route is None else f"route {route!r}"
            write = Write(
                "Restore",
                P.ROUTER_RESTORE,
                {"name": name, "route": route},
                f"Put {what} of router {name!r} back to its configured provider order",
            )
            self._confirm(write, "router", name, self.screen.feed.targets("routers", name))

        self.screen.app.push_screen(
            PickModal(
                f"Restore router {name!r} {how_many(targets)}",
                "Undo re-maps: the configured provider order again.",
                options,
                every,
            ),
            done,
        )

    # ---- providers --------------------------------------------------------------------
    def _provider(self, what: str) -> list[tuple[str, str]] | None:
        notify = self.screen.app.notify
        if self.screen.read_only:
            notify(f"{what}: unavailable — the panel is read-only.", severity="warning")
            return None
        choices = provider_choices(list(self.screen.feed.members.values()))
        if not choices:
            notify(f"{what}: no engine reports a provider yet.", severity="warning")
            return None
        return choices

    def resume_provider(self) -> None:
        choices = self._provider("End cooldown")
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
        targets = self.screen.feed.targets("providers", name)
        write = Write("End cooldown", P.PROVIDER_RESUME, {"name": name},
                      f"End the cooldown of provider {name!r}")  # fmt: skip
        self._confirm(write, "provider", name, targets)

    def drain_provider(self) -> None:
        choices = self._provider("Drain")
        if choices is not None:
            self.screen.run_worker(self._drain(choices), group="fleet-dialogs", exclusive=True)

    async def _drain(self, choices: list[tuple[str, str]]) -> None:
        app = self.screen.app
        name = await app.push_screen_wait(
            PickModal(
                "Drain a provider on every engine",
                "Its tiers send traffic to their next provider while it rests.",
                choices,
                next((n for n, label in choices if "cooling" not in label), choices[0][0]),
            )
        )
        if name is None:
            return
        seconds = await app.push_screen_wait(
            NumberModal(
                f"Drain provider {name!r}",
                "How long it rests: seconds, or with s / m / h / d (300, 5m, 1h); u ends it early.",
                parse_duration,
                "5m",
            )
        )
        if seconds is None:
            return
        write = Write("Drain", P.PROVIDER_COOLDOWN, {"name": name, "seconds": seconds},
                      f"Drain provider {name!r} for {fmt.countdown(seconds)}")  # fmt: skip
        self._confirm(write, "provider", name, self.screen.feed.targets("providers", name))

    # ---- memory -----------------------------------------------------------------------
    def clear_memory(self) -> None:
        got = self._highlighted("Clear memory", "memory")
        if got is not None:
            name, targets = got
            q = f"Delete every entry of memory {name!r}"
            write = Write("Clear memory", P.MEMORY_CLEAR, {"name": name}, q)
            self._confirm(write, "memory", name, targets)

    # ---- overrides (fleet through Redis) ----------------------------------------------
    def overrides(self) -> None:
        """List the fleet-wide settings in force; drop the one picked (after a confirm)."""
        feed = self.screen.feed
        if not hasattr(feed, "drop_override"):
            self.screen.app.notify(
                "Fleet-wide overrides live in Redis: start the panel with --redis URL.",
                title="Overrides",
            )
            return
        if self.screen.read_only:
            self.screen.app.notify("Drop override: unavailable — the panel is read-only.")
            return
        self.screen.run_worker(self._overrides(feed), group="fleet-dialogs", exclusive=True)

    async def _overrides(self, feed: Any) -> None:
        app = self.screen.app
        try:
            found: dict[str, dict[str, Any]] = await feed.overrides()
        except Exception as exc:
            app.notify(f"{type(exc).__name__}: {exc}"[:200], title="Overrides", severity="error")
            return
        if not found:
            app.notify(
                "No fleet-wide override: every engine runs its own values.", title="Overrides"
            )
            return
        options = [(key, override_label(key, rec)) for key, rec in sorted(found.items())]
        key = await app.push_screen_wait(
            PickModal(
                "Fleet-wide overrides",
                "Enter drops the highlighted one: every engine returns to its config value.",
                options,
                options[0][0],
            )
        )
        if key is None:
            return
        n = len(feed.members)
        yes = await app.push_screen_wait(
            ConfirmModal(
                "Drop override",
                f"Drop {key} and return it to each engine's config value on {n} engine"
                f"{'s' if n != 1 else ''}?",
                "Drop",
            )
        )
        if yes:
            done = await feed.drop_override(key)
            app.notify(
                done.text,
                title=f"Dropped {key}",
                severity="information" if done.ok else "warning",
                timeout=10,
            )


def override_label(key: str, rec: dict[str, Any]) -> str:
    """ "cache:llm:ttl = 42 · v3 · alice@web-1 (panel)"."""
    params = rec.get("params") or {}
    value = next((params[f] for f in ("ttl", "max_size", "route", "provider") if f in params), None)
    author = rec.get("author") or {}
    who = f"{author.get('user') or author.get('uid')}@{author.get('host')} ({author.get('client')})"
    return f"{key} = {value!r} · v{rec.get('version')} · {who}"
