"""The operator's keys on the app: each action asks the Operator to act on its group's
target, and one read-only gate shows them disabled and refuses their key presses.

A mixin of FlowdeckApp (Textual finds ``action_*``, ``check_action`` and ``on_key`` on
any class of the app), so app.py keeps to composing; ``keys.KEYS`` names the actions.
"""

from __future__ import annotations

from textual import events

from flowdeck.panel import keys
from flowdeck.panel.actions import Operator
from flowdeck.panel.state import PanelState


class OperatorKeys:
    """``action_<name>`` for every mutating key of ``keys.KEYS``, and their gate."""

    operator: Operator
    state: PanelState

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in keys.MUTATING_ACTIONS and self.state.read_only:
            return None  # shown disabled in the footer; the key press is refused in on_key
        return True

    def on_key(self, event: events.Key) -> None:
        if not self.state.read_only:
            return
        for k in keys.KEYS:
            if k.mutating and event.key in k.keys.split(","):
                self.operator.refuse(k.description)
                event.stop()
                return

    def action_flush(self) -> None:
        self.operator.flush(self.operator.target("caches"))

    def action_flush_all(self) -> None:
        self.operator.flush_all()

    def action_set_ttl(self) -> None:
        self.operator.ask_ttl(self.operator.target("caches"))

    def action_set_size(self) -> None:
        self.operator.ask_size(self.operator.target("caches"))

    def action_pin(self) -> None:
        self.operator.ask_pin(self.operator.target("routers"))

    def action_unpin(self) -> None:
        self.operator.unpin(self.operator.target("routers"))

    def action_remap(self) -> None:
        self.operator.ask_remap(self.operator.target("routers"))

    def action_set_weights(self) -> None:
        self.operator.ask_weights(self.operator.target("routers"))

    def action_restore_route(self) -> None:
        self.operator.restore(self.operator.target("routers"))

    def action_resume_provider(self) -> None:
        self.operator.resume(self.operator.target("providers"))

    def action_drain_provider(self) -> None:
        self.operator.ask_drain(self.operator.target("providers"))

    def action_clear_memory(self) -> None:
        self.operator.clear_memory(self.operator.target("memories"))
