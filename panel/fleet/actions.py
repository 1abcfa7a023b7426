"""The Fleet view's actions: one write sent to every engine that has the primitive.

Each action is: the highlighted totals row names the primitive (cache, router or
memory), or a picker names the provider (end a cooldown, drain); a dialog asks for the
value when there is one (TTL, size, route, provider, weights, duration);
a confirmation says how many engines it will touch (and how many of them are
read-only, so will refuse); then the feed sends it and one toast names every engine
that refused or failed ("applied on 2 of 3; pid 4712: read_only").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from flowdeck.engine.control import discovery as D
from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ControlClient
from flowdeck.panel import fmt
from flowdeck.panel.fleet.gate import Write, how_many, providers_of, routes_of
from flowdeck.panel.fleet.provider_levers import ProviderLevers
from flowdeck.panel.modals.confirm import ConfirmModal
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from flowdeck.panel.validate import parse_size, parse_ttl, parse_weights

AUTO = "\x00auto"  # the "auto" choice of the pin picker (never a route name)


class FleetActions(ProviderLevers):
    """The dialogs and sends of one FleetScreen (the gate in fleet/gate.py, the provider
    levers in fleet/provider_levers.py)."""

    # ---- caches -----------------------------------------------------------------------
    def flush(self) -> None:
        got = self._highlighted("Flush", "cache")
        if got is not None:
            name = got[0]
            q = f"Flush cache {name!r} (L1, and L2 where an engine has one)"
            self._confirm(Write("Flush", P.CACHE_FLUSH, {"name": name}, q), "cache", name)

    def set_ttl(self) -> None:
        self._ask_number(
            "Set TTL",
            "ttl",
            P.CACHE_SET_TTL,
            parse_ttl,
            "Seconds, or with s / m / h / d: 120, 1.5, 5m. Applies to entries already stored.",
            lambda name, v: f"Set the TTL of cache {name!r} to {fmt.ttl(v)}",
            fmt.ttl,
        )

    def set_size(self) -> None:
        self._ask_number(
            "Set max size",
            "max_size",
            P.CACHE_SET_MAX_SIZE,
            parse_size,
            "A whole number of entries > 0. Shrinking evicts the least recently used.",
            lambda name, v: f"Set the max size of cache {name!r} to {v:,} entries",
            lambda v: f"{v:,}",
        )

    def _ask_number(
        self,
        what: str,
        field: str,
        method: str,
        parse: Callable[[str], Any],
        help_text: str,
        question: Callable[[str, Any], str],
        shown: Callable[[Any], str],
    ) -> None:
        got = self._highlighted(what, "cache")
        if got is None:
            return
        name, targets = got

        async def ask() -> None:
            # Stats frames carry no settings: the engines' snapshots say what they are now.
            now = summarize(await cache_settings(targets, name, field), shown)
            value = await self.screen.app.push_screen_wait(
                NumberModal(
                    f"{what} of cache {name!r} {how_many(targets)}",
                    help_text + (f" ({now})" if now else ""),
                    parse,
                )
            )
            if value is not None:
                write = Write(what, method, {"name": name, field: value}, question(name, value))
                self._confirm(write, "cache", name)

        self.screen.run_worker(ask(), group="fleet-dialogs", exclusive=True)

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
        if got is None:
            return
        name, targets = got
        states = [(t.stats.get("routers") or {}).get(name) or {} for t in targets]
        if all("pinned" in s and s["pinned"] is None for s in states):
            # The write would change nothing (every engine would answer "unchanged")
            # (an engine too old to say whether it is pinned is asked anyway).
            self.screen.app.notify(
                f"Router {name!r} is automatic on every engine already; nothing sent.",
                title="Auto",
            )
            return
        self._pin(name, None, targets)

    def _pin(self, name: str, route: str | None, targets: list[Any]) -> None:
        if route is None:
            write = Write("Auto", P.ROUTER_PIN, {"name": name, "route": None},
                          f"Unpin router {name!r} (back to its selector)")  # fmt: skip
        else:
            write = Write("Pin", P.ROUTER_PIN, {"name": name, "route": route},
                          f"Pin router {name!r} to route {route!r}")  # fmt: skip
        self._confirm(write, "router", name)

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
        self._confirm(write, "router", name)

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
            self._confirm(write, "router", name)

        self.screen.app.push_screen(
            NumberModal(
                f"Route weights of {name!r} {how_many(targets)}",
                f"route=weight for routes of {', '.join(routes) or name}; a route left out or"
                " at 0 is drained but still a fallback; 'none' goes back to each engine's"
                " configured weights.",
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
            self._confirm(write, "router", name)

        self.screen.app.push_screen(
            PickModal(
                f"Restore router {name!r} {how_many(targets)}",
                "Undo re-maps: the configured provider order again.",
                options,
                every,
            ),
            done,
        )

    # ---- memory -----------------------------------------------------------------------
    def clear_memory(self) -> None:
        got = self._highlighted("Clear memory", "memory")
        if got is not None:
            name = got[0]
            q = f"Delete every entry of memory {name!r}"
            write = Write("Clear memory", P.MEMORY_CLEAR, {"name": name}, q)
            self._confirm(write, "memory", name)

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


SETTINGS_WAIT = 1.0  # seconds for the engines' snapshots before a dialog opens without them


async def cache_settings(targets: list[Any], cache: str, field: str) -> list[Any]:
    """Cache ``field`` (ttl / max_size) on each target of this host, from a snapshot of
    each (None where it did not answer in time; a Redis fleet's engines are not ours to
    reach: the socket path they report is on their own host)."""

    async def one(target: Any) -> Any:
        engine = getattr(target, "engine", None)
        if not isinstance(engine, D.LiveEngine):
            return None
        try:
            async with asyncio.timeout(SETTINGS_WAIT):
                client = await ControlClient.connect(engine.socket, SETTINGS_WAIT)
                try:
                    snap = await client.snapshot()
                finally:
                    await client.close()
        except Exception:
            return None
        caches: dict[str, Any] = dict(snap.get("caches") or {})
        entry = caches.get(cache)
        return entry.get(field) if isinstance(entry, dict) else None

    return list(await asyncio.gather(*(one(t) for t in targets)))


def summarize(values: list[Any], shown: Callable[[Any], str]) -> str:
    """ "now 10m00s", or "now 5m00s on 2, 10m00s on 1" where the engines differ; "" when
    none said."""
    counts: dict[Any, int] = {}
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            counts[v] = counts.get(v, 0) + 1
    if not counts:
        return ""
    if len(counts) == 1:
        return f"now {shown(next(iter(counts)))}"
    ranked = sorted(counts.items(), key=lambda vn: -vn[1])
    return "now " + ", ".join(f"{shown(v)} on {n}" for v, n in ranked)
