"""Operator: every action that changes (or asks) the engine, behind one gate.

The gate says why an action cannot run before any dialog opens: the panel or the engine
is read-only, the panel is not connected, or there is no visible target (the engine has
none, or the view's filter hides every row). Dialogs are the modals of ``panel.modals``;
the engine's answer (or refusal) is always shown as a toast.

Longer than most modules on purpose: every lever of every view is here so that each one
goes through the same gate (``may``) and the same reply path (``call``); the dialogs they
open live in ``panel.modals`` and the input rules in ``panel.validate``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from flowdeck.engine.control import protocol as P
from flowdeck.engine.control.client import ConnectionLost, ControlError
from flowdeck.engine.control.schema import ClearReply, FlushReply
from flowdeck.panel import fmt
from flowdeck.panel.feed import Feed
from flowdeck.panel.modals.confirm import ConfirmModal
from flowdeck.panel.modals.number import NumberModal
from flowdeck.panel.modals.pick import PickModal
from flowdeck.panel.selection import Selection
from flowdeck.panel.state import CONNECTING, PanelState
from flowdeck.panel.validate import parse_duration, parse_size, parse_ttl, parse_weights
from flowdeck.panel.views.memory import SEARCH_SHOWN, results_count

AUTO = "\x00auto"  # the "auto" choice of the pin picker (never a route name)
KIND = {"caches": "cache", "routers": "router", "memories": "memory", "providers": "provider"}


class Operator:
    """Operator actions for one app; targets come from the views' Selected messages."""

    def __init__(
        self,
        app: App[Any],
        state: PanelState,
        feed: Feed,
        live: Callable[[str], Selection | None] = lambda group: None,
    ) -> None:
        self.app = app
        self.state = state
        self.feed = feed
        self.selections: dict[str, Selection] = {}
        self.live = live  # the shown view's selection now, read from its table's cursor

    # ---- targets ------------------------------------------------------------------
    def select(self, group: str, selection: Selection) -> None:
        """Record a view's selection (from its Selected message)."""
        self.selections[group] = selection

    def target(self, group: str) -> Selection:
        """The target of a key action in ``group``: the visible selected row; the first
        name when the view has not shown any row yet; None when the filter hides all."""
        names = self.state.group(group)
        # The table's cursor first: keys typed in a burst (down, down, u) run before the
        # Selected messages of the moves are handled, so the recorded one may be stale.
        sel = self.live(group) or self.selections.get(group)
        if sel is not None and sel.name in names:
            return sel
        if sel is not None and sel.filter:
            return Selection(None, None, sel.filter)
        return Selection(min(names) if names else None)

    # ---- the gate -----------------------------------------------------------------
    def refuse(self, what: str) -> None:
        """Say that ``what`` is refused because the panel or the engine is read-only."""
        why = (
            "the panel was started with --read-only"
            if self.state.read_only_flag
            else "the engine is read-only"
        )
        self.app.notify(f"{what}: unavailable — {why}.", title="Read-only", severity="warning")

    def may(self, what: str, group: str, sel: Selection, *, write: bool = True) -> bool:
        """True if ``what`` can act on ``sel`` now; else False, having said why."""
        if write and self.state.read_only:
            self.refuse(what)
            return False
        if not self.state.connected:
            # Not yet (just opened from the Fleet view, or starting) is not gone: say which.
            soon = self.state.conn == CONNECTING
            self.app.notify(
                # the socket on a line of its own: a toast wraps a long path anywhere
                f"{what}: "
                + ("still connecting to" if soon else "not connected to")
                + f" the engine at\n{self.state.socket}"
                + ("\n(try again in a moment)" if soon else ""),
                title="Connecting" if soon else "Disconnected",
                severity="warning" if soon else "error",
            )
            return False
        kind = KIND[group]
        if sel.name is None:
            if sel.filter:
                text = f"No {kind} is shown: the filter {sel.filter!r} hides every row."
            else:
                text = f"The engine has no {kind}."
            self.app.notify(f"{what}: {text}", severity="warning")
            return False
        if sel.name != "*" and sel.name not in self.state.group(group):
            self.app.notify(f"{what}: the engine has no {kind} {sel.name!r}.", severity="warning")
            return False
        return True

    # ---- talking to the engine ----------------------------------------------------
    def call(
        self,
        method: str,
        params: dict[str, Any],
        describe: Callable[[Any], str],
        *,
        then: Callable[[Any], None] | None = None,
    ) -> None:
        """Send one control call in the background; toast the engine's answer."""
        self.app.run_worker(
            self._call(method, params, describe, then), group="calls", exit_on_error=False
        )

    async def _call(
        self,
        method: str,
        params: dict[str, Any],
        describe: Callable[[Any], str],
        then: Callable[[Any], None] | None,
    ) -> None:
        notify = self.app.notify
        try:
            result = await self.feed.call(method, params)
        except ControlError as exc:
            notify(
                f"{exc.code}: {exc.message}",
                title=f"Engine refused {method}",
                severity="error",
                timeout=8,
            )
            return
        except (ConnectionLost, TimeoutError, OSError) as exc:
            notify(
                f"{method}: {exc or type(exc).__name__}",
                title="No answer",
                severity="error",
                timeout=8,
            )
            return
        self.feed.state.apply_reply(method, result)  # the reply carries describe(): show it now
        try:  # decoded by name (schema's reply types): another shape is the engine's bug
            said = describe(result)
            if then is not None:
                then(result)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            notify(
                f"{method}: the reply is not the shape the protocol says "
                f"({type(exc).__name__}: {str(exc)[:80]})",
                title="Engine reply not understood",
                severity="warning",
                timeout=8,
            )
            return
        notify(said, title=f"Engine: {method} ok", timeout=5)

    # ---- caches -------------------------------------------------------------------
    def flush(self, sel: Selection) -> None:
        """Ask for confirmation, then flush one cache (or every cache for "*")."""
        if not self.may("Flush", "caches", sel):
            return
        name = sel.name
        caches = self.state.group("caches")
        if name == "*":
            title = "Flush every cache?"
            names = ", ".join(sorted(caches))
            n = len(caches)
            msg = f"All entries of {n} cache{'' if n == 1 else 's'} ({names}) will be dropped."
        else:
            cache = caches.get(name or "", {})
            st = cache.get("stats") or {}
            title = f"Flush cache {name!r}?"
            where = "L1 and L2" if cache.get("l2") else "L1"
            msg = f"{fmt.num(st.get('size', 0))} entries will be dropped ({where})."

        layered = {n for n, c in caches.items() if c.get("l2")}  # told apart: no L2 / not reached

        def done(yes: bool | None) -> None:
            if yes:
                self.call(P.CACHE_FLUSH, {"name": name}, lambda r: describe_flush(r, layered))

        self.app.push_screen(ConfirmModal(title, msg, "Flush"), done)

    def flush_all(self) -> None:
        self.flush(Selection("*" if self.state.group("caches") else None))

    def ask_ttl(self, sel: Selection) -> None:
        """Open the TTL modal for a cache; a valid value is sent to the engine."""
        current = self.state.group("caches").get(sel.name or "", {}).get("ttl")
        self._ask_cache_number(
            sel,
            "Set TTL",
            f"Set the TTL of cache {sel.name!r}",
            f"Seconds, or with s / m / h / d: 120, 1.5, 5m, 1h30m (now {fmt.ttl(current)}). "
            "Applies to entries already stored.",
            fmt.as_typed(current) if isinstance(current, (int, float)) else "",
            parse_ttl,
            P.CACHE_SET_TTL,
            "ttl",
            lambda r, v: f"TTL of {sel.name!r} is now {fmt.ttl(_ttl_of(r, v))}",
        )

    def ask_size(self, sel: Selection) -> None:
        """Open the max-size modal for a cache."""
        current = self.state.group("caches").get(sel.name or "", {}).get("max_size")
        self._ask_cache_number(
            sel,
            "Set max size",
            f"Set the max size of cache {sel.name!r}",
            f"A whole number of entries > 0 (now {current}). Shrinking evicts the "
            "least recently used entries.",
            str(current or ""),
            parse_size,
            P.CACHE_SET_MAX_SIZE,
            "max_size",
            lambda r, v: f"Max size of {sel.name!r} is now {v:,} entries",
        )

    def _ask_cache_number(
        self,
        sel: Selection,
        what: str,
        title: str,
        help_text: str,
        shown: str,
        parse: Callable[[str], Any],
        method: str,
        field: str,
        describe: Callable[[Any, Any], str],
    ) -> None:
        """The gate, then a NumberModal; a valid value goes to ``method`` as ``field``."""
        if not self.may(what, "caches", sel):
            return

        def done(value: Any) -> None:
            if value is not None:
                self.call(method, {"name": sel.name, field: value}, lambda r: describe(r, value))

        self.app.push_screen(NumberModal(title, help_text, parse, shown), done)

    # ---- routers ------------------------------------------------------------------
    def ask_pin(self, sel: Selection) -> None:
        """Pick a route (or auto) for a router, then pin it."""
        if not self.may("Pin", "routers", sel):
            return
        router = sel.name
        r = self.state.group("routers").get(router or "", {})
        routes = list(r.get("routes") or (r.get("stats") or {}).get("routes") or [])
        providers = r.get("providers") or {}
        options = [(AUTO, "auto — let the selector choose (unpin)")]
        for route in routes:
            prov = providers.get(route)
            label = route + (f"  ({' → '.join(prov)})" if prov else "")
            if route == r.get("pin"):
                label += "  [pinned now]"
            options.append((route, label))
        current = r.get("pin") or sel.detail or AUTO

        def done(choice: str | None) -> None:
            if choice is not None:
                self.pin(router, None if choice == AUTO else choice)

        self.app.push_screen(
            PickModal(
                f"Pin router {router!r}",
                "Every request goes to the pinned route.",
                options,
                current,
            ),
            done,
        )

    def pin(self, router: str | None, route: str | None) -> None:
        """Pin ``router`` to ``route`` (None = auto)."""
        if not self.may("Pin" if route else "Unpin", "routers", Selection(router)):
            return
        if route is None and not self.state.group("routers").get(router or "", {}).get("pin"):
            # Unpinning a router the selector already drives would claim "back to auto".
            self.app.notify(
                f"Router {router!r} is already automatic (not pinned); nothing changed.",
                title="Unpin",
                timeout=4,
            )
            return
        self.call(
            P.ROUTER_PIN,
            {"name": router, "route": route},
            lambda r: (
                f"Router {router!r} "
                + (
                    f"pinned to {route!r}"
                    if route
                    else "back to auto (its weights)"
                    if (r or {}).get("weights")
                    else "back to auto (selector)"
                )
            ),
        )

    def unpin(self, sel: Selection) -> None:
        self.pin(sel.name, None)

    def ask_remap(self, sel: Selection) -> None:
        """Pick a provider-backed route, then the provider to put first."""
        if self.may("Re-map", "routers", sel):
            self.app.run_worker(self._remap(sel), group="dialogs", exclusive=True)

    async def _remap(self, sel: Selection) -> None:
        app, router, route = self.app, sel.name, sel.detail
        r = self.state.group("routers").get(router or "", {})
        mapping = {k: v for k, v in (r.get("providers") or {}).items() if v}
        if not mapping:
            app.notify(
                f"Router {router!r} has no provider-backed routes to re-map.", severity="warning"
            )
            return
        if route not in mapping:
            route = await app.push_screen_wait(
                PickModal(
                    f"Re-map a route of {router!r}",
                    "Pick the route (tier) whose provider you want to change.",
                    [(k, f"{k}  ({' → '.join(v)})") for k, v in mapping.items()],
                    next(iter(mapping)),
                )
            )
            if route is None:
                return
        providers = self.state.group("providers")
        if not providers:
            app.notify("The engine reports no providers.", severity="warning")
            return
        current = mapping[route][0]
        options = []
        for name in sorted(providers):
            p = providers[name]
            label = (
                f"{name}  ({p.get('kind', '?')}, {p.get('model', '?')}, p50 "
                f"{fmt.secs(p.get('p50'))})"
            )
            if name == current:
                label += "  [first now]"
            if p.get("state") == "cooling down":  # picking it sends traffic elsewhere anyway
                label += "  [cooling down]"
            options.append((name, label))
        provider = await app.push_screen_wait(
            PickModal(
                f"Re-map {router}/{route} to a provider",
                f"The chosen provider goes first; the current list ({' → '.join(mapping[route])})"
                " stays as fallback.",
                options,
                current,
            )
        )
        if provider is None:
            return
        if provider == current:  # the write would only add an "unchanged" audit record
            app.notify(f"{router}/{route} already calls {provider!r} first; nothing changed.")
            return
        self.call(
            P.ROUTER_SET_MODEL,
            {"name": router, "route": route, "provider": provider},
            lambda res: (
                f"{router}/{route} now calls "
                + " → ".join((((res or {}).get("providers") or {}).get(route)) or [provider])
            ),
        )

    def restore(self, sel: Selection) -> None:
        """Confirm, then put the selected route (every route of a router row without
        one) back to its configured provider order, undoing re-maps."""
        if not self.may("Restore", "routers", sel):
            return
        router, route = sel.name, sel.detail
        r = self.state.group("routers").get(router or "", {})
        now = r.get("providers") or {}
        configured = r.get("configured") or {}
        routes = [route] if route in configured else [k for k, v in configured.items() if v]
        routes = [k for k in routes if configured.get(k)]
        if not routes:
            self.app.notify(
                f"Router {router!r} has no provider-backed route to restore.", severity="warning"
            )
            return
        changed = [k for k in routes if list(now.get(k) or []) != list(configured[k])]
        if not changed:  # the write would only add an "unchanged" audit record
            what = f"{router}/{routes[0]}" if len(routes) == 1 else f"Every route of {router!r}"
            self.app.notify(f"{what} already calls its configured providers; nothing changed.")
            return
        lines = [
            f"{k}: {' → '.join(now.get(k) or [])}  ⇒  {' → '.join(configured[k])}"
            + ("" if k in changed else "  (already)")
            for k in routes
        ]
        one = route if route in configured else None

        def done(yes: bool | None) -> None:
            if yes:
                self.call(
                    P.ROUTER_RESTORE,
                    {"name": router, "route": one},
                    lambda res: (
                        f"{router}: "
                        + "; ".join(
                            f"{k} calls {' → '.join(v or [])}"
                            for k, v in ((res or {}).get("providers") or {}).items()
                            if k in routes
                        )
                    ),
                )

        what = f"route {one!r}" if one else "every provider-backed route"
        self.app.push_screen(
            ConfirmModal(
                f"Restore {what} of {router!r}?",
                "Back to the configured provider order:\n" + "\n".join(lines),
                "Restore",
            ),
            done,
        )

    def ask_weights(self, sel: Selection) -> None:
        """Ask for route weights (``fast=90 slow=10``, ``none`` for the configured ones),
        validated against the router's routes, then send them."""
        if not self.may("Set weights", "routers", sel):
            return
        router = sel.name
        r = self.state.group("routers").get(router or "", {})
        routes = list(r.get("routes") or [])
        weights = r.get("weights") or {}
        shown = " ".join(f"{k}={v:g}" for k, v in weights.items())
        configured = r.get("configured_weights")
        back = (
            " ".join(f"{k}={v:g}" for k, v in configured.items()) if configured else "the selector"
        )
        help_text = (
            f"route=weight pairs over {', '.join(routes)} (relative: 90/10 is 9/1); a route "
            f"left out or at 0 is drained but still a fallback; 'none' goes back to {back}."
        )

        def describe(res: Any) -> str:
            w = (res or {}).get("weights")
            if not w:
                return f"Router {router!r}: no weights, back to the selector"
            return f"Router {router!r} splits " + " / ".join(f"{k} {v:g}" for k, v in w.items())

        def done(value: dict[str, Any] | None) -> None:
            if value is not None:  # None: cancelled; {"weights": None}: back to configured
                self.call(P.ROUTER_SET_WEIGHTS, {"name": router, **value}, describe)

        def parse(text: str) -> dict[str, Any]:
            return {"weights": parse_weights(text, routes)}

        self.app.push_screen(
            NumberModal(f"Set the route weights of {router!r}", help_text, parse, shown), done
        )

    # ---- providers ----------------------------------------------------------------
    def resume(self, sel: Selection) -> None:
        """Confirm, then end the selected provider's cooldown now."""
        if not self.may("End cooldown", "providers", sel):
            return
        name = sel.name
        left = self.state.cooldown_left(name or "")
        if left <= 0:
            self.app.notify(f"Provider {name!r} is not cooling down.", severity="warning")
            return
        p = self.state.group("providers").get(name or "", {})
        why = fmt.REASON.get(str(p.get("cooldown_reason")), str(p.get("cooldown_reason") or "?"))

        def done(yes: bool | None) -> None:
            if yes:
                self.call(
                    P.PROVIDER_RESUME,
                    {"name": name},
                    lambda r: f"Provider {name!r} takes traffic again ({_left(r)} were left)",
                )

        self.app.push_screen(
            ConfirmModal(
                f"End the cooldown of {name!r} now?",
                f"{fmt.countdown(left)} left ({why}); its failure count is reset and it "
                "gets traffic at once.",
                "End cooldown",
            ),
            done,
        )

    def ask_drain(self, sel: Selection) -> None:
        """Ask how long, confirm, then start a cooldown on the selected provider (drain:
        its tiers send traffic to their next provider meanwhile)."""
        if self.may("Drain", "providers", sel):
            self.app.run_worker(self._drain(sel), group="dialogs", exclusive=True)

    async def _drain(self, sel: Selection) -> None:
        app, name = self.app, sel.name
        seconds = await app.push_screen_wait(
            NumberModal(
                f"Drain provider {name!r}",
                "How long it rests: seconds, or with s / m / h / d (300, 5m, 1h). Its "
                "tiers use their next provider meanwhile; u ends it early.",
                parse_duration,
                "5m",
            )
        )
        if seconds is None:
            return
        yes = await app.push_screen_wait(
            ConfirmModal(
                f"Drain {name!r} for {fmt.countdown(seconds)}?",
                "Routers send its tiers' traffic to their next provider until it ends (u ends "
                "it early); where every provider of a tier rests, it is still the last resort. "
                "Calls made to it directly (a Parallel's branches) still reach it.",
                "Drain",
            )
        )
        if yes:
            self.call(
                P.PROVIDER_COOLDOWN,
                {"name": name, "seconds": seconds},
                lambda r: (
                    f"Provider {name!r} drained for "
                    f"{fmt.countdown(float((r or {}).get('cooldown_remaining') or seconds))}"
                ),
            )

    # ---- memory -------------------------------------------------------------------
    def clear_memory(self, sel: Selection) -> None:
        """Confirm, then clear a memory namespace."""
        if not self.may("Clear memory", "memories", sel):
            return
        name = sel.name
        m = self.state.group("memories").get(name or "", {})
        size = (m.get("stats") or {}).get("size", 0)

        def done(yes: bool | None) -> None:
            if yes:
                self.call(
                    P.MEMORY_CLEAR,
                    {"name": name},
                    lambda r: describe_clear(r, name or ""),
                )

        self.app.push_screen(
            ConfirmModal(
                f"Clear memory {name!r}?",
                f"{fmt.num(size)} entries of namespace "
                f"{m.get('namespace', name)!r} will be deleted.",
                "Clear",
            ),
            done,
        )

    def search_memory(self, sel: Selection, query: str, show: Callable[[Any], None]) -> None:
        """Ask the engine to search a memory; ``show`` gets the engine's result."""
        if not self.may("Search", "memories", sel, write=False):
            return
        name = sel.name
        self.call(
            P.MEMORY_SEARCH,
            {"name": name, "keywords": query, "limit": SEARCH_SHOWN + 1},
            lambda r: f"{results_count(r)} in {name!r}",
            then=show,
        )


def describe_flush(reply: FlushReply, layered: frozenset[str] | set[str] = frozenset()) -> str:
    """``cache.flush``'s reply in words: per cache, what left L1 (and L2, with Redis). A
    cache of ``layered`` (it has an L2) whose L2 count is missing could not reach Redis:
    its L2 entries stay, and the words say so (QA: "334 entries" read as all of them)."""
    parts = []
    for name, r in reply["flushed"].items():
        l2 = r["l2"]
        if l2 is not None:
            removed = f"{r['l1']} in L1 + {l2} in L2"
        elif name in layered:
            removed = f"{r['l1']} in L1; Redis not reached, its L2 entries stay"
        else:
            removed = f"{r['l1']} entries"
        parts.append(f"{name}: {removed}")
    return "Flushed " + (", ".join(parts) if parts else "nothing")


def describe_clear(reply: ClearReply, name: str) -> str:
    """``memory.clear``'s reply in words."""
    return f"Memory {name!r} cleared ({reply['cleared'].get(name, 0)} entries)"


def _left(result: Any) -> str:
    """The ``seconds_left`` of a ``provider.resume`` reply, as a countdown."""
    left = ((result or {}).get("result") or {}).get("seconds_left")
    return fmt.countdown(float(left)) if isinstance(left, (int, float)) else "?"


def _ttl_of(result: Any, fallback: float) -> float:
    if isinstance(result, dict) and isinstance(result.get("ttl"), (int, float)):
        return float(result["ttl"])
    return fallback
