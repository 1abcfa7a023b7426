"""Model providers: one client per configured endpoint, built from settings by kind."""

from __future__ import annotations

import aiohttp

from flowdeck.engine.providers.anthropic import AnthropicClient
from flowdeck.engine.providers.budget import Budget
from flowdeck.engine.providers.call import ProviderCall
from flowdeck.engine.providers.client import ProviderClient
from flowdeck.engine.providers.http import HttpProviderClient
from flowdeck.engine.providers.ollama import OllamaClient
from flowdeck.engine.providers.openai import OpenAIClient
from flowdeck.engine.providers.request import validate_request
from flowdeck.engine.providers.simulated import SimulatedClient
from flowdeck.engine.settings import EngineSettings
from flowdeck.engine.telemetry.events import EventBus

CLIENTS: dict[str, type[ProviderClient]] = {
    "openai": OpenAIClient,
    "anthropic": AnthropicClient,
    "ollama": OllamaClient,
    "simulated": SimulatedClient,
}


def build_clients(
    settings: EngineSettings, session: aiohttp.ClientSession | None, bus: EventBus
) -> dict[str, ProviderClient]:
    """One client per ``settings.providers`` entry, all sharing the engine's session."""
    return {
        name: CLIENTS[ps.kind](name, ps, session, bus) for name, ps in settings.providers.items()
    }


def build_budgets(
    settings: EngineSettings, clients: dict[str, ProviderClient], bus: EventBus
) -> dict[str, Budget]:
    """One Budget per ``settings.budgets`` entry; a provider's is also set on its client."""
    out: dict[str, Budget] = {}
    for name, b in settings.budgets.items():
        scope = "provider" if name in clients else "tier"
        budget = out[name] = Budget(name, scope, b.usd, b.period, bus)
        if scope == "provider":
            clients[name].budget = budget
    return out


__all__ = [
    "CLIENTS",
    "AnthropicClient",
    "Budget",
    "HttpProviderClient",
    "OllamaClient",
    "OpenAIClient",
    "ProviderCall",
    "ProviderClient",
    "SimulatedClient",
    "build_budgets",
    "build_clients",
    "validate_request",
]
