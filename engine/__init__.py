"""Flowdeck engine: cache / parallel / route / memory workflows with live telemetry.

Names are imported on first use (PEP 562), so ``import engine.control.client`` (the
panel, ``flowdeck ctl``) does not pay for aiohttp, pydantic and the primitives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowdeck.engine.version import PROTOCOL_VERSION, __version__

if TYPE_CHECKING:
    from flowdeck.engine.completion import Completion
    from flowdeck.engine.context import Context
    from flowdeck.engine.engine import Engine
    from flowdeck.engine.errors import (
        FlowdeckError,
        ProviderError,
        RegistrationError,
        SettingsError,
    )
    from flowdeck.engine.primitives import (
        Cache,
        Memory,
        Parallel,
        Primitive,
        Router,
        Sequence,
        Step,
    )
    from flowdeck.engine.settings import (
        CacheSettings,
        EngineSettings,
        HttpProviderSettings,
        ProviderSettings,
        SimulatedProviderSettings,
    )

_LAZY: dict[str, str] = {
    "Completion": "flowdeck.engine.completion",
    "Context": "flowdeck.engine.context",
    "Engine": "flowdeck.engine.engine",
    "FlowdeckError": "flowdeck.engine.errors",
    "ProviderError": "flowdeck.engine.errors",
    "RegistrationError": "flowdeck.engine.errors",
    "SettingsError": "flowdeck.engine.errors",
    "Cache": "flowdeck.engine.primitives",
    "Memory": "flowdeck.engine.primitives",
    "Parallel": "flowdeck.engine.primitives",
    "Primitive": "flowdeck.engine.primitives",
    "Router": "flowdeck.engine.primitives",
    "Sequence": "flowdeck.engine.primitives",
    "Step": "flowdeck.engine.primitives",
    "CacheSettings": "flowdeck.engine.settings",
    "EngineSettings": "flowdeck.engine.settings",
    "ProviderSettings": "flowdeck.engine.settings",
    "HttpProviderSettings": "flowdeck.engine.settings",
    "SimulatedProviderSettings": "flowdeck.engine.settings",
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
    "HttpProviderSettings",
    "Memory",
    "Parallel",
    "Primitive",
    "ProviderError",
    "ProviderSettings",
    "RegistrationError",
    "Router",
    "Sequence",
    "SettingsError",
    "SimulatedProviderSettings",
    "Step",
    "__version__",
]
