"""The command palette's entries, as Textual ``SystemCommand``s.

``FlowdeckApp.get_system_commands`` yields these: one per key of the key table (so the
palette, the footer, the help screen and the README never disagree), then one per
target (flush cache X, pin router R to a route, ...) and one per theme.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any, Protocol

from textual.app import SystemCommand

from flowdeck.panel.actions import Operator
from flowdeck.panel.keys import EVERYWHERE, KEYS
from flowdeck.panel.selection import Selection
from flowdeck.panel.state import PanelState
from flowdeck.panel.validate import weights_example


class CommandHost(Protocol):
    """What the commands need of the app (keeps this module free of ``panel.app``)."""

    state: PanelState
    operator: Operator

    @property
    def available_themes(self) -> dict[str, Any]: ...

    def run_action(self, action: str) -> Awaitable[bool]: ...

    def set_theme(self, name: str) -> None: ...


def key_commands(host: CommandHost, fleet: bool = False) -> Iterator[SystemCommand]:
    """One command per entry of the key table that is meant for the palette (``fleet``:
    over the Fleet view, only those that act there)."""
    ro = host.state.read_only
    for k in KEYS:
        if not k.palette or (fleet and k.action not in EVERYWHERE):
            continue
        title = k.description + (" (unavailable: read-only)" if ro and k.mutating else "")
        yield SystemCommand(
            title, f"key {k.display}", partial(host.run_action, k.action), k.discover
        )


def target_commands(host: CommandHost) -> Iterator[SystemCommand]:
    """Actions on a named cache, router or memory (whatever the current selection)."""
    st, op = host.state, host.operator
    ro = " (unavailable: read-only)" if st.read_only else ""

    def cmd(title: str, help: str, run: Callable[..., None], *args: Any) -> SystemCommand:
        return SystemCommand(title + ro, help, partial(run, *args), False)

    caches = sorted(st.group("caches"))
    for name in caches:
        sel = Selection(name)
        yield cmd(f"Flush cache {name}", "Drop every entry (asks first)", op.flush, sel)
        yield cmd(
            f"Set TTL of cache {name}", "120, 5m, 1h30m; applies to stored entries", op.ask_ttl, sel
        )
        yield cmd(
            f"Set max size of cache {name}", "Entries; shrinking evicts LRU", op.ask_size, sel
        )
    for name, r in sorted(st.group("routers").items()):
        for route in r.get("routes") or []:
            yield cmd(
                f"Pin router {name} to {route}", "Every request goes to it", op.pin, name, route
            )
        yield cmd(f"Unpin router {name} (auto)", "Back to the selector", op.pin, name, None)
        for route, prov in (r.get("providers") or {}).items():
            if prov:
                yield cmd(
                    f"Re-map {name}/{route} to a provider…",
                    f"Now {' → '.join(prov)}",
                    op.ask_remap,
                    Selection(name, route),
                )
        yield cmd(
            f"Set weights of router {name}…",
            "e.g. " + weights_example(list((r.get("stats") or {}).get("routes") or {})),
            op.ask_weights,
            Selection(name),
        )
        for route, prov in (r.get("configured") or {}).items():
            if prov and prov != (r.get("providers") or {}).get(route):
                yield cmd(
                    f"Restore {name}/{route} to its configured providers",
                    " → ".join(prov),
                    op.restore,
                    Selection(name, route),
                )
    for name, p in sorted(st.group("providers").items()):
        sel = Selection(name)
        if p.get("state") == "cooling down":
            yield cmd(f"End the cooldown of provider {name}", "Traffic again now (asks first)",
                      op.resume, sel)  # fmt: skip
        yield cmd(f"Drain provider {name}…", "A cooldown of a chosen length", op.ask_drain, sel)
    for name in sorted(st.group("memories")):
        yield cmd(
            f"Clear memory {name}",
            "Delete every entry (asks first)",
            op.clear_memory,
            Selection(name),
        )


def theme_commands(host: CommandHost) -> Iterator[SystemCommand]:
    for theme in sorted(host.available_themes):
        yield SystemCommand(
            f"Theme: {theme}", "Switch the colour theme", partial(host.set_theme, theme), False
        )


def fleet_commands(host: CommandHost, actions: Iterator[SystemCommand]) -> Iterator[SystemCommand]:
    """The palette over the Fleet view: the keys that act there, the Fleet view's own
    actions (``actions``, on the highlighted total) and the themes."""
    yield from key_commands(host, fleet=True)
    yield from actions
    yield from theme_commands(host)


def palette_commands(host: CommandHost) -> Iterator[SystemCommand]:
    """Every palette entry for the current state of the engine."""
    yield from key_commands(host)
    yield from target_commands(host)
    yield from theme_commands(host)
