"""Flowdeck engine: cache / parallel / route / memory workflows with live telemetry."""

from engine.completion import Completion
from engine.context import Context
from engine.engine import Engine
from engine.errors import FlowdeckError, ProviderError, RegistrationError, SettingsError
from engine.primitives import Cache, Memory, Parallel, Primitive, Router, Sequence, Step
from engine.settings import CacheSettings, EngineSettings, ProviderSettings
from engine.version import PROTOCOL_VERSION, __version__

__all__ = [
    "PROTOCOL_VERSION",
    "Cache",
    "CacheSettings",
    "Completion",
    "Context",
    "Engine",
    "EngineSettings",
    "FlowdeckError",
    "Memory",
    "Parallel",
    "Primitive",
    "ProviderError",
    "ProviderSettings",
    "RegistrationError",
    "Router",
    "Sequence",
    "SettingsError",
    "Step",
    "__version__",
]
