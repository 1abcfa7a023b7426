"""Flowdeck engine: cache / parallel / route / memory workflows with live telemetry.

Names are imported on first use (PEP 562), so ``import engine.control.client`` (the
panel, ``python -m engine ctl``) does not pay for aiohttp, pydantic and the primitives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.version import PROTOCOL_VERSION, __version__

if TYPE_CHECKING:
    from engine.completion import Completion
    from engine.context import Context
    from engine.engine import Engine
    from engine.errors import FlowdeckError, ProviderError, RegistrationError, SettingsError
    from engine.primitives import Cache, Memory, Parallel, Primitive, Router, Sequence, Step
    from engine.settings import CacheSettings, EngineSettings, ProviderSettings

_LAZY: dict[str, str] = {
    "Completion": "engine.completion",
    "Context": "engine.context",
    "Engine": "engine.engine",
    "FlowdeckError": "engine.errors",
    "ProviderError": "engine.errors",
    "RegistrationError": "engine.errors",
    "SettingsError": "engine.errors",
    "Cache": "engine.primitives",
    "Memory": "engine.primitives",
    "Parallel": "engine.primitives",
    "Primitive": "engine.primitives",
    "Router": "engine.primitives",
    "Sequence": "engine.primitives",
    "Step": "engine.primitives",
    "CacheSettings": "engine.settings",
    "EngineSettings": "engine.settings",
    "ProviderSettings": "engine.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
