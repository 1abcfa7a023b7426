"""The command palette (ctrl+p): every action, per target, and theme switching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from flowdeck.panel.app import FlowdeckApp


@dataclass(frozen=True)
class Command:
    """One palette entry."""

    title: str
    help: str
    run: Callable[[], object]
    discover: bool = False


def build_commands(app: FlowdeckApp) -> list[Command]:
    """Every command for the current state of the engine (targets come from the model)."""
    st = app.state
    ro = " (unavailable: read-only)" if st.read_only else ""
    cmds: list[Command] = []
    add = cmds.append
    for pane, title in (
        ("overview", "Overview"),
        ("caches", "Caches"),
        ("routers", "Routers"),
        ("timelines", "Timelines"),
        ("memory", "Memory"),
        ("events", "Events"),
    ):
        add(Command(f"View: {title}", f"Show the {title} view", partial(app.action_view, pane)))
    add(
        Command(
            "Pause / resume display",
            "Freeze or unfreeze the screen (space, p)",
            app.action_pause,
            True,
        )
    )
    add(Command("Refresh faster", f"Now every {app.refresh_rate:g} s (+)", app.action_faster))
    add(Command("Refresh slower", f"Now every {app.refresh_rate:g} s (-)", app.action_slower))
    add(
        Command(
            "Export snapshot to JSON",
            "Write ./flowdeck-snapshot-<time>.json (e)",
            app.action_export,
            True,
        )
    )
    add(Command("Help: show every key", "?", app.action_help, True))
    caches = sorted(st.group("caches"))
    for name in caches:
        add(
            Command(
                f"Flush cache {name}{ro}",
                "Drop every entry (asks first)",
                partial(app.flush_cache, name),
                True,
            )
        )
        add(
            Command(
                f"Set TTL of cache {name}{ro}",
                "Seconds; applies to stored entries",
                partial(app.ask_ttl, name),
            )
        )
        add(
            Command(
                f"Set max size of cache {name}{ro}",
                "Entries; shrinking evicts LRU",
                partial(app.ask_size, name),
            )
        )
    if caches:
        add(
            Command(
                f"Flush all caches{ro}",
                "Every cache (asks first)",
                partial(app.flush_cache, "*"),
                True,
            )
        )
    for name, r in sorted(st.group("routers").items()):
        for route in r.get("routes") or []:
            add(
                Command(
                    f"Pin router {name} to {route}{ro}",
                    "Every request goes to it",
                    partial(app.pin, name, route),
                )
            )
        add(
            Command(
                f"Unpin router {name} (auto){ro}",
                "Back to the selector",
                partial(app.pin, name, None),
                True,
            )
        )
        for route, prov in (r.get("providers") or {}).items():
            if prov:
                add(
                    Command(
                        f"Re-map {name}/{route} to a provider…{ro}",
                        f"Now {' → '.join(prov)}",
                        partial(app.ask_remap, name, route),
                    )
                )
    for name in sorted(st.group("memories")):
        add(
            Command(
                f"Clear memory {name}{ro}",
                "Delete every entry (asks first)",
                partial(app.clear_memory, name),
            )
        )
    for theme in sorted(app.available_themes):
        add(
            Command(
                f"Theme: {theme}", "Switch the colour theme", partial(setattr, app, "theme", theme)
            )
        )
    return cmds


class FlowdeckCommands(Provider):
    """Palette provider: actions on caches, routers and memories, views, themes."""

    async def discover(self) -> Hits:
        app: FlowdeckApp = self.app  # type: ignore[assignment]
        for cmd in build_commands(app):
            if cmd.discover:
                yield DiscoveryHit(cmd.title, cmd.run, help=cmd.help)

    async def search(self, query: str) -> Hits:
        app: FlowdeckApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for cmd in build_commands(app):
            score = matcher.match(cmd.title)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(cmd.title), cmd.run, text=cmd.title, help=cmd.help
                )
