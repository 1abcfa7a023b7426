"""Telemetry: the event ring every primitive emits into, and cheap running statistics."""

from engine.telemetry.events import EventBus, EventKind
from engine.telemetry.stats import LatencyWindow

__all__ = ["EventBus", "EventKind", "LatencyWindow"]
