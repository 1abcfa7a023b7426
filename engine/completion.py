"""The result of a model call, shared by providers, routers and caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Completion:
    """What a provider returns: the text plus everything needed to account for it."""

    text: str
    model: str
    provider: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    # Per consumer of a stream (not stored): seconds to the first delta, and where the
    # text came from ("provider" | "l1" | "l2" | "coalesced").
    ttft: float | None = None
    source: str = "provider"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "provider": self.provider,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "latency": self.latency,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Completion:
        return cls(
            text=str(d["text"]),
            model=str(d.get("model", "")),
            provider=str(d.get("provider", "")),
            tokens_in=int(d.get("tokens_in", 0)),
            tokens_out=int(d.get("tokens_out", 0)),
            cost=float(d.get("cost", 0.0)),
            latency=float(d.get("latency", 0.0)),
            extra=dict(d.get("extra") or {}),
        )


def cost_of(result: Any) -> float:
    """Cost carried by a result: a Completion, or a list of results (parallel fan-out)."""
    if isinstance(result, Completion):
        return result.cost
    if isinstance(result, list):
        return sum(cost_of(r) for r in result)
    if isinstance(result, dict):
        inner = result.get("completion")
        if isinstance(inner, Completion):
            return inner.cost
    return 0.0
