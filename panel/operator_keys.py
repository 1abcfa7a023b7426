"""The operator's keys on the app: each action asks the Operator to act on its group's
target, and one read-only gate shows them disabled and refuses their key presses.

A mixin of FlowdeckApp (Textual finds ``action_*``, ``check_action`` and ``on_key`` on
any class of the app), so app.py keeps to composing; ``keys.KEYS`` names the actions.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import events

from flowdeck.panel import keys
from flowdeck.panel.actions import Operator
from flowdeck.panel.state import PanelState


def on_target(method: str, group: str) -> Callable[[OperatorKeys], None]:
    """An app action: ``Operator.<method>`` on the target of ``group``."""
    if not callable(getattr(Operator, method, None)):  # a typo fails at import, not on a key
        raise AttributeError(f"Operator has no method {method!r}")

    def action(self: OperatorKeys) -> None:
        getattr(self.operator, method)(self.operator.target(group))

    action.__doc__ = f"Operator.{method} on the selected {group} row."
    return action


class OperatorKeys:
    """``action_<name>`` for every mutating key of ``keys.KEYS``, and their gate."""

    operator: Operator
    state: PanelState
    paused: bool

    def on_engine_views(self) -> bool:
        """True while the engine's views are on top: the keys act on their selection, so
        over the Fleet view, a remote engine or a dialog they are left out."""
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        shown = keys.pause_shown(action, self.paused)
        if shown is not None:  # pause or resume: one of the two, so the footer says which
            return shown
        elsewhere = action not in keys.EVERYWHERE and not self.on_engine_views()
        if action in keys.APP_ACTIONS and elsewhere:
            return False  # not in that screen's footer, and its own keys come first
        if action in keys.MUTATING_ACTIONS and (self.state.read_only or self._gone()):
            return None  # shown disabled in the footer; the press is refused in on_key
        return True

    def _gone(self) -> bool:
        """The engine stopped answering: its write keys cannot act."""
        return self.state.ever_connected and not self.state.connected

    def on_key(self, event: events.Key) -> None:
        read_only = self.state.read_only
        if (not read_only and not self._gone()) or not self.on_engine_views():
            return  # over the Fleet view or a dialog, that screen answers its own keys
        for k in keys.KEYS:
            if k.mutating and event.key in k.keys.split(","):
                if read_only:
                    self.operator.refuse(k.description)
                else:  # a disabled binding does nothing: the action says why instead
                    getattr(self, f"action_{k.action}")()
                event.stop()
                return

    def action_flush_all(self) -> None:
        self.operator.flush_all()

    # Each asks the Operator to act on the target of one group (the row its view has
    # selected): action_<key action> = on_target(<Operator method>, <group>).
    action_flush = on_target("flush", "caches")
    action_set_ttl = on_target("ask_ttl", "caches")
    action_set_size = on_target("ask_size", "caches")
    action_pin = on_target("ask_pin", "routers")
    action_unpin = on_target("unpin", "routers")
    action_remap = on_target("ask_remap", "routers")
    action_set_weights = on_target("ask_weights", "routers")
    action_restore_route = on_target("restore", "routers")
    action_resume_provider = on_target("resume", "providers")
    action_drain_provider = on_target("ask_drain", "providers")
    action_clear_memory = on_target("clear_memory", "memories")
