"""Every key binding of the panel in one table: used for BINDINGS, the help screen and
the README, so the three never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Key:
    """One binding: Textual key names, action, help text, shown in the footer or not."""

    keys: str
    action: str
    description: str
    display: str
    show: bool = False
    mutating: bool = False
    group: str = "General"
    short: str = ""  # footer label (defaults to the description)
    palette: bool = True  # also a command of the palette (ctrl+p)

    @property
    def discover(self) -> bool:
        """Listed in the palette before anything is typed."""
        return self.show or self.group == "Views"


KEYS: list[Key] = [
    Key("question_mark", "help", "Help: show every key", "?", show=True, short="Keys"),
    Key(
        "ctrl+p",
        "command_palette",
        "Command palette (every action, themes)",
        "ctrl+p",
        short="Commands",
        palette=False,
    ),
    Key("0", "fleet", "Fleet: every engine of this host", "0", group="Views"),
    Key("1", "view('overview')", "Overview", "1", group="Views"),
    Key("2", "view('caches')", "Caches table", "2", group="Views"),
    Key("3", "view('routers')", "Routers", "3", group="Views"),
    Key("4", "view('timelines')", "Parallel timelines", "4", group="Views"),
    Key("5", "view('memory')", "Memory namespaces and search", "5", group="Views"),
    Key("6", "view('events')", "Live event log", "6", group="Views"),
    Key("7", "view('audit')", "Audit: every write, who, before → after", "7", group="Views"),
    Key(
        "8",
        "view('providers')",
        "Providers: state, cooldowns, retries, last error, budgets",
        "8",
        group="Views",
    ),
    Key("space,p", "pause", "Pause / resume the display", "space p", show=True, short="Pause"),
    Key("plus,equals_sign", "faster", "Refresh faster", "+", short="Faster"),
    Key("minus", "slower", "Refresh slower", "-", short="Slower"),
    Key("slash", "filter", "Filter / search in the current view", "/", short="Filter"),
    Key("s", "sort", "Sort the table by the next column", "s", short="Sort"),
    Key("S", "sort_reverse", "Reverse the sort of the table", "S", short="Reverse"),
    Key("ctrl+f", "search", "Search the selected memory (keywords)", "ctrl+f", short="Search"),
    Key("e", "export", "Export the snapshot to a JSON file", "e", short="Export"),
    Key("T", "change_theme", "Pick a colour theme", "T", short="Theme"),
    Key("q", "quit", "Quit", "q", show=True),
    Key("f", "flush", "Flush the selected cache", "f", True, True, "Actions", "Flush"),
    Key("F", "flush_all", "Flush every cache", "F", False, True, "Actions", "Flush all"),
    Key("t", "set_ttl", "Set the TTL of the selected cache", "t", True, True, "Actions", "TTL"),
    Key(
        "m",
        "set_size",
        "Set the max size of the selected cache",
        "m",
        True,
        True,
        "Actions",
        "Size",
    ),
    Key(
        "r",
        "pin",
        "Pin the selected router to a route (or auto)",
        "r",
        True,
        True,
        "Actions",
        "Pin",
    ),
    Key(
        "a",
        "unpin",
        "Unpin the selected router (back to auto)",
        "a",
        False,
        True,
        "Actions",
        "Auto",
    ),
    Key("R", "remap", "Re-map a route to another provider", "R", False, True, "Actions", "Remap"),
    Key(
        "w",
        "set_weights",
        "Set the route weights of the selected router (route=weight pairs: fast=90 ...)",
        "w",
        False,
        True,
        "Actions",
        "Weights",
    ),
    Key(
        "o",
        "restore_route",
        "Restore the selected route's configured provider order",
        "o",
        False,
        True,
        "Actions",
        "Restore",
    ),
    Key(
        "u",
        "resume_provider",
        "End the selected provider's cooldown now",
        "u",
        False,
        True,
        "Actions",
        "End cooldown",
    ),
    Key(
        "d",
        "drain_provider",
        "Drain the selected provider: a cooldown of a chosen length",
        "d",
        False,
        True,
        "Actions",
        "Drain",
    ),
    Key(
        "c",
        "clear_memory",
        "Clear the selected memory namespace",
        "c",
        False,
        True,
        "Actions",
        "Clear mem",
    ),
]

TABLE_KEYS: list[tuple[str, str]] = [
    ("↑ ↓ / click", "Select a row (the target of the actions)"),
    ("click a header", "Sort by that column (click again to reverse)"),
    ("tab / shift+tab", "Move focus between filter, table and buttons"),
    ("escape", "Close a dialog, or leave a filter box"),
]

FLEET_KEYS: list[tuple[str, str]] = [
    ("enter", "Open the highlighted engine (every view, its live events)"),
    ("1-8", "Open the highlighted engine on that view"),
    ("tab / shift+tab", "Move between the engines table and the totals table"),
    ("s / S", "Sort the focused table by the next column / reverse its sort"),
    ("f t m", "Flush / set the TTL / max size of the highlighted cache, on every engine"),
    ("r a R w o", "Pin / auto / re-map / weights / restore the highlighted router, everywhere"),
    ("c", "Clear the highlighted memory on every engine that has it"),
    ("u / d", "End a provider's cooldown / drain it, on every engine that has it"),
    ("v", "Fleet-wide overrides in Redis (with --redis): list them, drop one"),
    ("+ / -", "Repaint the Fleet view faster / slower (its own interval)"),
    ("escape", "Back to the engine the Fleet view was opened from"),
]
"""The Fleet view's own keys (its screen's bindings), for the help screen."""

MUTATING_ACTIONS = frozenset(k.action for k in KEYS if k.mutating)

EVERYWHERE = frozenset({"help", "command_palette", "fleet", "pause", "resume", "change_theme",
                        "quit"})  # fmt: skip
"""The app's actions that mean the same over the Fleet view or a dialog; the others
(filter, sort, search, export, a view, the writes) act on the engine views, so over
anything else they are off: a key there must not reach a screen the operator cannot see."""

APP_ACTIONS = frozenset(k.action.partition("(")[0] for k in KEYS)
"""The app's own key actions by name (``view('caches')`` is ``view``)."""


def bindings() -> list[Binding]:
    """The app's BINDINGS. Its footer shows only the general keys: each view shows its
    own actions (:func:`footer_bindings`), so Routers does not offer the cache keys.
    Pause has a second binding, shown while paused, that says Resume."""
    return [
        *(
            Binding(
                k.keys,
                k.action,
                k.short or k.description,
                show=k.show and not k.mutating,
                key_display=k.display.split()[0],
            )
            for k in KEYS
        ),
        RESUME,
    ]


RESUME = Binding("space,p", "resume", "Resume", show=True, key_display="space")
"""Pause's second binding: the footer says "space Resume" while paused (app and Fleet
view both bind it, and :func:`pause_shown` enables one of the two)."""


def pause_shown(action: str, paused: bool) -> bool | None:
    """check_action for ``pause`` / ``resume``: one of the two is enabled (None: not
    one of them, the caller decides)."""
    if action in ("pause", "resume"):
        return paused == (action == "resume")
    return None


def footer_bindings(*actions: str) -> list[BindingType]:
    """A view's BINDINGS: the keys of ``actions`` shown first in its footer (the keys
    are the app's, so they act the same from every view), then ``?``."""
    by_action = {k.action: k for k in KEYS}
    return [
        Binding(
            by_action[a].keys,
            f"app.{a}",
            by_action[a].short or by_action[a].description,
            show=True,
            key_display=by_action[a].display.split()[0],
        )
        for a in (*actions, "help")
    ]


def key_of(action: str) -> str:
    """How the key for ``action`` is written in help texts."""
    for k in KEYS:
        if k.action == action:
            return k.display
    return ""
