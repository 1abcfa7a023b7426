"""Telemetry: the event ring every primitive emits into, and cheap running statistics."""

from flowdeck.engine.telemetry.events import EventBus, EventKind
from flowdeck.engine.telemetry.stats import LatencyWindow

__all__ = ["EventBus", "EventKind", "LatencyWindow"]
